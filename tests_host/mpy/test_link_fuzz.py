# Generated malformed command frames (FUZZ_N scales, default 2000) on the real port:
# none crashes the meter, none is accepted, the flash dir stays byte-for-byte unchanged
# (but for the floor record's used-up seq).
import gc
import mptest
import core.commands  # noqa: F401  (compile the big modules first, one at a time)
gc.collect()
import fakemeters.fakeprepay  # noqa: F401
gc.collect()
import fakemeters.cmdfix  # noqa: F401
gc.collect()
from fakemeters.cases_fuzz import *  # noqa: F401,F403

mptest.main(globals())
