# Every rejection ack code on the real port, from hand-built bad frames: after each one the
# flash dir is byte-for-byte unchanged (the generated ones are in test_link_fuzz.py).
import mptest
import core.commands  # noqa: F401  (compile the big module first)
from fakemeters.cases_reject import *  # noqa: F401,F403

mptest.main(globals())
