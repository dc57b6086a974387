# heap: 80k
# Every rejection ack code on the real port, from hand-built bad frames: after each one the
# flash dir is byte-for-byte unchanged but for the floor record's used-up seq (the generated
# ones are in test_link_fuzz.py). 80k: commands with their floor and snapshot need ~66k here.
import gc
import mptest
import core.commands  # noqa: F401  (compile the big modules first, one at a time)
gc.collect()
import fakemeters.fakeprepay  # noqa: F401
gc.collect()
import fakemeters.cmdfix  # noqa: F401
gc.collect()
from fakemeters.cases_reject import *  # noqa: F401,F403

mptest.main(globals())
