# Runs labelled appliance signatures (tools/loadsig.py) through the whole measuring chain
# without the core: sim world -> sim BL0942 UART frames -> bl0942 parser -> StepVote.
# Used by test_elec_detectors.py and tools/bench_electricity.py.
from rigclock import RigClock
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if _here + "/../../../tools" not in sys.path:
    sys.path.append(_here + "/../../../tools")

# sim_electricity (and the bl0942 it imports) before loadsig: compiling the larger module
# while less bytecode is resident lowers the compile peak (tools/heap_margins.py).
import sim_electricity                  # noqa: E402
import loadsig                          # noqa: E402
import meters.electricity.bl0942 as bl0942  # noqa: E402
import meters.electricity.malicious_load as malicious_load


class Clock(RigClock):
    def __init__(self, t):
        RigClock.__init__(self, t)


def run(appliance, seconds, background=(), base_w=0, base_pf=1.0, cfg=None):
    """Tick once per second for `seconds`; returns the list of (t_s, step_w) detections,
    t_s relative to the appliance's switch-on."""
    clock = Clock(0)
    board = sim_electricity.SimBoard({}, clock)
    w = board.world
    w.closed = True
    w.load_w = float(base_w)
    w.pf = base_pf
    w.appliances = list(background) + [appliance]
    ic = bl0942.BL0942(board.meter_uart)
    c = dict(malicious_load.DEFAULTS)
    if cfg:
        c.update(cfg)
    vote = malicious_load.StepVote(c)
    out = []
    t_on = appliance.t_on_ms // 1000
    for t in range(seconds + 1):
        clock.t = t
        for f in ic.frames():
            s = ic.decode(f)
            d = vote.sample(s.power_w, s.va)
            if d:
                out.append((t - t_on, d))
    return out


def backgrounds():
    """Steady non-resistive backgrounds already running before the test appliance."""
    A = loadsig.Appliance
    return [
        ("none", (), 0),
        ("office", (A("laptop", 5, -600000), A("led", 6, -600000), A("tv", 7, -600000)), 0),
        ("heater_base", (), 800),       # a permitted resistive base load, steady
    ]
