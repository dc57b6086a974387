"""Hypothesis strategies for the whole-meter stateful test: the arguments of every protocol
v1 op (docs/protocol.md), config patches to every credit, tariff and driver key, sim world
changes per meter kind. Each draws valid values (mostly from the range where things happen
within a test's few simulated hours), boundary values (each end of the documented range
and one past it) and hostile ones (wrong types, junk)."""
from hypothesis import strategies as st

JUNK = st.sampled_from([None, True, False, "x", "", -1, 0, 1.5, [], {}, [1, 2], {"a": 1},
                        "9" * 60, 10 ** 20, -10 ** 20])


def ranged(lo, hi, live=None):
    """An int key of range lo..hi: values in `live` (where it matters in a test), the ends,
    one past each end, or junk."""
    a, b = live or (lo, hi)
    return st.one_of(st.integers(a, b), st.integers(a, b), st.integers(a, b),
                     st.sampled_from([lo, hi, lo - 1, hi + 1]), JUNK)


def warn_pct():
    good = st.lists(st.integers(1, 99), min_size=0, max_size=4, unique=True).map(
        lambda xs: sorted(xs, reverse=True))
    return st.one_of(good, good, st.sampled_from([[99, 1], [40, 25, 15, 5], [50, 50], [0],
                                                 [100], [1, 2], [50, 40, 30, 20, 10], "30"]), JUNK)


def friendly():
    win = st.sampled_from([["18:00", "11:00"], ["00:00", "06:00"], [0, 3600], ["23:59", "00:01"],
                           ["25:00", "01:00"], ["10:00", "10:00"], "x"])
    good = st.fixed_dictionaries({}, optional={
        "windows": st.lists(win, max_size=3), "weekends": st.booleans(),
        "holidays": st.lists(st.sampled_from(["2027-01-15", "2027-01-16", 20833, "2027-02-30"]),
                             max_size=2),
        "tz_offset_s": st.sampled_from([0, 3600, -18000, 50400, 50401, 3601])})
    return st.one_of(good, JUNK)


CREDIT = {
    "warn_pct": warn_pct(),
    "imminent_h": ranged(0, 336, (0, 48)),
    "emergency_minor": ranged(0, 10 ** 9, (0, 3000)),
    "emergency_below_minor": ranged(-10 ** 9, 10 ** 9, (-500, 2000)),
    "friendly": friendly(),
    "friendly_floor_minor": ranged(-10 ** 9, 10 ** 9, (-3000, 0)),
    "debt_minor": ranged(0, 10 ** 9, (0, 5000)),
    "debt_pct": ranged(0, 100, (0, 100)),
    "debt_cap_minor": ranged(0, 10 ** 9, (0, 2000)),
    "debt_cap_period": st.one_of(st.sampled_from(["day", "week", "month"]),
                                 st.sampled_from(["year", "Day", ""]), JUNK),
    "cutoff_minor": ranged(-10 ** 9, 10 ** 9, (-500, 500)),
    "recharge_max_minor": ranged(1, 10 ** 9, (100, 10 ** 6)),
    "arm_on_restore": st.one_of(st.booleans(), JUNK),
    "batch_use": ranged(1, 100000, (1, 200)),
    "batch_s": ranged(60, 86400, (60, 3600)),
    "report_s": ranged(10, 86400, (10, 600)),
}


def _obj(fields):
    return st.one_of(st.fixed_dictionaries({}, optional=fields), JUNK,
                     st.just({"unknown_key": 1}))


ELEC = {
    "relay": _obj({"pulse_ms": ranged(10, 500), "fault_ma": ranged(20, 5000),
                   "fault_confirm_s": ranged(1, 60), "retry_s": ranged(1, 3600),
                   "retry_max_s": ranged(1, 86400), "credit_wait_ma": ranged(1000, 200000),
                   "credit_wait_max_s": ranged(0, 600, (0, 60)),
                   "fault_alarm": st.sampled_from(["relay_fault", "bypass", "x"])}),
    "malicious_load": _obj({"mode": st.sampled_from(["off", "alarm", "trip", "on"]),
                            "min_step_w": ranged(30, 100000, (100, 3000)),
                            "pf_milli": ranged(500, 1000), "m": ranged(1, 8), "n": ranged(1, 8),
                            "reclose_s": ranged(1, 86400, (1, 120)),
                            "lockout_trips": ranged(1, 100, (1, 5)),
                            "allowed_bands_w": st.sampled_from([[], [[900, 1100]], [[5, 1]], "x"])}),
    "overload": _obj({"limit_w": ranged(100, 100000, (1000, 8000)), "guard_s": ranged(1, 3600, (1, 20)),
                      "restore_s": ranged(1, 86400, (1, 120)), "lockout_trips": ranged(1, 100, (1, 5))}),
    "voltage": _obj({"high_mv": ranged(200000, 400000, (240000, 290000)),
                     "low_mv": ranged(50000, 240000, (150000, 220000)),
                     "out_s": ranged(1, 3600, (1, 20)), "normal_s": ranged(1, 86400, (1, 120))}),
    "bl0942": _obj({"cf_uwh": ranged(1000, 10000000, (150000, 250000)),
                    "max_w": ranged(1000, 100000)}),
}

GAS = {"gas": _obj({
    "check_s": ranged(1, 10000000, (10, 300)), "leak_lph": ranged(1, 10000000, (1, 50)),
    "selfcheck": st.one_of(st.booleans(), JUNK),
    "uncontrolled_lph": ranged(1, 10000000, (100, 3000)), "uncontrolled_s": ranged(1, 10000000, (10, 600)),
    "max_total_lph": ranged(1, 10000000, (500, 6000)), "over_confirm_s": ranged(1, 10000000, (1, 20)),
    "surge_lph": ranged(1, 10000000, (500, 5000)), "surge_window_s": ranged(1, 120),
    "rate_window_s": ranged(1, 60), "gap_s": ranged(1, 10000000, (10, 300)),
    "seismic_gal": ranged(1, 10000000, (50, 400)), "quiet_s": ranged(1, 10000000, (60, 7200)),
    "warn_mv": ranged(1, 10000000, (3000, 3600)), "shut_mv": ranged(1, 10000000, (2900, 3300)),
    "recover_mv": ranged(1, 10000000, (3200, 3700)), "battery_confirm": ranged(1, 10000000, (1, 10)),
    "valve_timeout_s": ranged(1, 10000000, (2, 60)), "save_s": ranged(1, 10000000, (60, 86400)),
    "long_use": st.sampled_from([[[400, 720], [1500, 240], [0, 60]], [[0, 1]], [[100, 2], [0, 1]],
                                 [[0, 60], [100, 1]], []])})}

WATER = {
    "wake_s": ranged(60, 86400, (60, 1800)), "wake_pulses": ranged(0, 1000000, (0, 500)),
    "session_report_s": ranged(3600, 7 * 86400, (3600, 7200)), "credit_poll_s": ranged(60, 86400, (60, 1800)),
    "leak_zero_s": ranged(600, 86400, (600, 7200)), "leak_window_s": ranged(3600, 3 * 86400, (3600, 86400)),
    "leak_zero_lph": ranged(0, 100, (0, 10)), "burst_lph": ranged(1, 100000, (50, 1000)),
    "burst_s": ranged(60, 86400, (60, 1800)), "burst_close": st.one_of(st.booleans(), JUNK),
    "reverse_s": ranged(60, 86400, (60, 1800)), "dry_s": ranged(10, 86400, (10, 600)),
    "magnet_close": st.one_of(st.booleans(), JUNK), "valve_timeout_s": ranged(2, 120, (2, 30)),
    "valve_exercise_days": ranged(0, 365, (0, 2)),
    "valve_exercise_at": st.sampled_from(["03:00", "00:00", "23:59", "24:00", "3:00", 3]),
    "valve_safe": st.sampled_from(["open", "closed", "shut"]),
    "battery_low_mv": ranged(2000, 4000, (3100, 3500)), "battery_park_mv": ranged(2000, 4000, (2900, 3300)),
}
DRIVER = {"electricity": ELEC, "gas": GAS, "water": WATER}


def config_patch(kind):
    keys = dict(CREDIT)
    keys.update(DRIVER[kind])
    names = sorted(keys)
    one = st.sampled_from(names).flatmap(lambda k: keys[k].map(lambda v: {k: v}))
    return st.one_of(one, one, st.lists(one, min_size=2, max_size=3).map(
        lambda ds: {k: v for d in ds for k, v in d.items()}), st.just({}), st.just({"nope": 1}))


def tariff():
    price = ranged(0, 10 ** 9, (10000, 5000000))
    flat = st.fixed_dictionaries({"price": price}, optional={
        "standing_minor_per_day": ranged(0, 10 ** 7, (0, 500)),
        "tz_offset_s": st.sampled_from([0, 3600, 50400, 99999])})
    tou = st.fixed_dictionaries({"tou": st.fixed_dictionaries({
        "rates": st.sampled_from([{"peak": 400000, "valley": 100000}, {"flat": 250000},
                                  {"peak": -1}, {}]),
        "weekday": st.sampled_from([[["00:00", "valley"], ["08:00", "peak"], ["22:00", "valley"]],
                                    [["00:00", "flat"]], [["01:00", "peak"]], []])})})
    tiered = st.fixed_dictionaries({"tiered": st.fixed_dictionaries({
        "steps": st.sampled_from([[[100, 200000], [None, 400000]], [[None, 300000]],
                                  [[100, 1], [50, 2], [None, 3]], []])},
        optional={"period": st.sampled_from(["month", "year", "week"]),
                  "reset_day": ranged(1, 28)})})
    spec = st.one_of(flat, flat, tou, tiered, st.just({}), st.just({"price": 1, "tou": {}}), JUNK)
    return st.tuples(spec, st.one_of(st.none(), st.none(), st.integers(-3600, 7 * 86400), JUNK))


def world(kind):
    if kind == "electricity":
        f = {"voltage_v": st.sampled_from([230, 235, 220, 270, 290, 170, 150, 0, 400, 401, -5, "x"]),
             "load_w": st.sampled_from([0, 0, 100, 500, 1500, 2500, 4000, 5000, 9000, 100001, -1]),
             "pf": st.sampled_from([1.0, 0.97, 0.8, 0.5, 0.04, 2])}
    elif kind == "gas":
        f = {"flow_lph": st.sampled_from([0, 0, 3, 10, 60, 300, 1200, 3000, 4500, 9000, -1, 100001]),
             "battery_mv": st.sampled_from([3600, 3450, 3350, 3250, 3150, 3050, 2800, 5001, "3600"]),
             "tamper": st.sampled_from([False, True, 1]),
             "vibration_gal": st.sampled_from([0, 0, 50, 150, 250, 600, 5001])}
    else:
        f = {"flow_lph": st.sampled_from([0, 0, 1, 5, 50, 200, 400, 1500, -20, -10001]),
             "battery_mv": st.sampled_from([3650, 3500, 3350, 3250, 3150, 3000, 5001]),
             "magnet": st.sampled_from([False, True, "yes"]),
             "empty_pipe": st.sampled_from([False, True])}
    return st.one_of(st.fixed_dictionaries({}, optional=f).filter(bool), st.just({"unknown": 1}),
                     st.just([]))


ALARMS = ["overload", "malicious_load", "over_voltage", "under_voltage", "relay_fault", "bypass",
          "metering_fault", "crash_loop", "tamper", "valve_fault", "low_voltage", "over_flow",
          "flow_surge", "long_use", "seismic", "leak_on_restore", "restart_closed", "micro_leak",
          "battery_park", "battery_low", "burst", "magnetic_attack", "leak_suspected", "x" * 40]
