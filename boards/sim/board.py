# The simulated board entry (docs/architecture.md): make(kind, cfg, clock) imports the
# physics of that meter kind from sim_<kind>.py (one per driver) and returns its SimBoard.
# clock(...) builds the stepped sim clock the app passes in; network(...) is the host's own
# network (the board contract, docs/porting.md).
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
    if "sim_script" in conf:
        from script import WorldScript
        return ScriptedClock(c, WorldScript(conf["sim_script"]))
    return c


def network(conf, clock):
    """The host's network, always up; config.json "net" must be absent (a sim meter has no
    radio: wifi and cellular are for the ESP32 boards)."""
    from net import netconf
    from net.host import Host
    kind, _ = netconf.parse(conf.get("net"), "host")
    if kind != "host":
        raise ValueError("invalid config.json: net: the sim board uses the host's network; "
                         "%s needs an ESP32 board" % kind)
    return Host()


def reset_cause():
    return "power_on"


class ScriptedClock:
    """The sim clock, playing config.json's sim_script (boards/sim/script.py) on the way:
    every world change happens at its own simulated instant, even inside a long jump of a
    sleeping meter, so the board integrates flow piecewise and nothing is smeared."""

    def __init__(self, clock, script):
        self.clock = clock
        self.script = script
        self.board = None

    def __getattr__(self, name):
        return getattr(self.clock, name)

    @property
    def signed_s(self):
        return self.clock.signed_s

    @signed_s.setter
    def signed_s(self, t_s):               # the app restores it at boot: the clock keeps it
        self.clock.signed_s = t_s

    def bind(self, board):
        self.board = board
        self.script.play(self, self.clock.t)     # the world as it is at start-up

    def sim_at(self, t_s, fields):
        self.clock.advance(t_s)
        self.board.sim(fields)

    def advance(self, t_s):
        if self.board is not None:
            self.script.play(self, t_s)
        self.clock.advance(t_s)


def make(kind, cfg, clock):
    if kind not in KINDS:
        raise ValueError("kind must be electricity, water or gas")
    mod = __import__("sim_" + kind)
    b = mod.SimBoard(cfg, clock)
    if isinstance(clock, ScriptedClock):
        clock.bind(b)
    return b
