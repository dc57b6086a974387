# The simulated board entry (docs/architecture.md): make(kind, cfg, clock) imports the
# physics of that meter kind from sim_<kind>.py (one per driver) and returns its SimBoard.
# clock(...) builds the stepped sim clock the app passes in.
import simclock

SIM = True          # the app subscribes to <root>/<id>/sim only on this board
KINDS = ("electricity", "water", "gas")


def clock(conf, floor_s=0):
    """conf: config.json. sim_speed: sim seconds per real second; sim_start: optional unix
    start (then clock_ok stays false until a `time` command); floor_s: the last persisted
    time, so a restart never moves the meter's clock backwards."""
    start = conf.get("sim_start")
    if start is not None and (not isinstance(start, int) or start < simclock.MIN_PLAUSIBLE_S):
        raise ValueError("sim_start must be unix seconds >= 2024-01-01")
    c = simclock.SimClock(conf.get("sim_speed", 1), start, synced=start is None)
    if c.t < floor_s:
        c.t = floor_s
        c._anchor()
    return c


def make(kind, cfg, clock):
    if kind not in KINDS:
        raise ValueError("kind must be electricity, water or gas")
    mod = __import__("sim_" + kind)
    return mod.SimBoard(cfg, clock)
