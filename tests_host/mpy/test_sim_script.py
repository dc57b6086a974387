# The scripted world of the sim board: daily and one-off changes applied at their own
# instants, across long jumps of the clock (a water meter asleep for hours).
import mptest
from script import WorldScript

T0 = 1796083200  # 2026-12-01 00:00 UTC


class Rec:
    def __init__(self):
        self.log = []

    def sim_at(self, t, f):
        self.log.append((t, f))


def test_daily_changes_each_day_in_order_across_a_long_jump():
    w = WorldScript({"daily": [["07:00", {"flow_lph": 300}], ["07:10", {"flow_lph": 0}]]})
    b = Rec()
    w.play(b, T0)
    w.play(b, T0 + 3 * 86400)
    got = [t - T0 for t, _ in b.log]
    # start-up state (the 07:10 entry is in force at midnight), then 3 days x 2 changes
    mptest.eq(got, [0, 25200, 25800, 86400 + 25200, 86400 + 25800, 2 * 86400 + 25200, 2 * 86400 + 25800])


def test_tz_offset_and_once():
    w = WorldScript({"daily": [["08:00", {"load_w": 100}]], "once": [[T0 + 100, {"load_w": 5}]],
                     "tz_offset_s": 3600})
    b = Rec()
    w.play(b, T0)
    w.play(b, T0 + 86400)
    mptest.eq([t - T0 for t, _ in b.log], [0, 100, 7 * 3600])


def test_add_is_a_constant_under_the_daily_use():
    # a tap starts dripping 2 L/h at 23:00 and keeps dripping under the 07:00 shower
    w = WorldScript({"daily": [["07:00", {"flow_lph": 300}], ["07:10", {"flow_lph": 0}]],
                     "add": [[T0 + 23 * 3600, {"flow_lph": 2}]]})
    b = Rec()
    w.play(b, T0)
    w.play(b, T0 + 86400 + 8 * 3600)
    mptest.eq([(t - T0, f["flow_lph"]) for t, f in b.log],
              [(0, 0), (25200, 300), (25800, 0), (82800, 2), (86400 + 25200, 302), (86400 + 25800, 2)])


def test_changes_due_at_or_before_start_up_are_applied():
    # a world that began before the meter did: a one-off entry at the very start instant and an
    # addition already running must both be in force from the first instant
    w = WorldScript({"once": [[T0 - 50, {"load_w": 7}], [T0, {"load_w": 100}], [T0 + 60, {"load_w": 5}]],
                     "add": [[T0 - 10, {"load_w": 1}]]})
    b = Rec()
    w.play(b, T0)
    w.play(b, T0 + 120)
    mptest.eq([(t - T0, f["load_w"]) for t, f in b.log], [(0, 7), (0, 100), (0, 101), (60, 6)])


def test_bad_scripts_are_rejected_with_a_reason():
    bad = [1, {"x": 1}, {"daily": [["25:00", {"a": 1}]]}, {"daily": [["07:00", {}]]},
           {"daily": [[7, {"a": 1}]]}, {"once": [["t", {"a": 1}]]}, {"once": [[True, {"a": 1}]]},
           {"tz_offset_s": 99999}, {"daily": [["07:00"]]}, {"add": [[5, {"flow_lph": "x"}]]},
           {"add": [["d0", {"a": 1}]]}]
    for spec in bad:
        e = mptest.raises(ValueError, WorldScript, spec)
        mptest.true("sim_script" in str(e) or "time" in str(e) or len(str(e)) > 3, str(spec))


mptest.main(globals())
