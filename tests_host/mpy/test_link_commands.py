# Protocol v1 command handling on the real port: every op, every ack code, dup / replay;
# after every rejection the flash dir is byte-for-byte unchanged.
import gc
import mptest
import core.commands  # noqa: F401  (compile the big modules first, one at a time)
gc.collect()
import fakemeters.fakeprepay  # noqa: F401
gc.collect()
import fakemeters.cmdfix  # noqa: F401
gc.collect()
from fakemeters.cases_commands import *  # noqa: F401,F403

mptest.main(globals())
