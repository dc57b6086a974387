"""The exits probe of the whole-meter stateful test: from the state a run has reached, take
every documented way back to supply, as a utility and a resident would, and require that the
meter ends `on` with no latch. Run as a step of the sequences and at the end of each one.

In order (each is a documented exit; a refusal or a latch that stays is a `no_exit`):
1. crash-loop (minimal) mode: a remote `clear crash_loop` (docs/field-guide.md, boot modes)
   restarts the meter into normal mode;
2. the world made benign, the flash healed, the broker back; the self-clearing latches clear
   by themselves: over/under voltage after `normal_s` in band (docs/electricity.md §7),
   gas low_voltage once the cell reads >= recover_mv (docs/gas.md §4), water battery_park
   once the cell is back (docs/water.md §6);
3. a remote `clear` of every latch the docs let the head-end clear;
4. `supply on`, a recharge above the cut-off, the button (gas: the leak check runs)."""

SELF_CLEARING = ("over_voltage", "under_voltage", "low_voltage", "battery_park")
REMOTE = {"electricity": ("overload", "malicious_load"),
          "gas": ("tamper", "valve_fault", "over_flow", "flow_surge", "uncontrolled_flow",
                  "long_use", "seismic", "leak_on_restore", "restart_closed"),
          "water": ("burst", "magnetic_attack", "valve_fault")}
BENIGN = {"electricity": {"voltage_v": 230, "load_w": 0, "pf": 1.0},
          "gas": {"flow_lph": 0, "battery_mv": 3600, "tamper": False, "vibration_gal": 0},
          "water": {"flow_lph": 0, "battery_mv": 3650, "magnet": False, "empty_pipe": False}}
SAFE_CREDIT = {"cutoff_minor": 0, "friendly_floor_minor": -1000, "emergency_below_minor": 200,
               "recharge_max_minor": 1000000, "debt_pct": 0}
SAFE_DRIVER = {"electricity": {"voltage": {"normal_s": 30, "high_mv": 265000, "low_mv": 180000,
                                           "out_s": 5}},
               "gas": {"gas": {"battery_confirm": 3, "shut_mv": 3100, "warn_mv": 3300,
                               "recover_mv": 3400, "check_s": 180, "leak_lph": 5,
                               "valve_timeout_s": 20}},
               "water": {"battery_low_mv": 3300, "battery_park_mv": 3100, "wake_s": 900}}


def _ack(ans):
    acks = ans.get("acks") or []
    return acks[-1] if acks else None


def probe_exits(m):
    kind = m.KIND

    def st():
        return m.model.st

    class Stuck(Exception):
        pass

    def command(op, args):
        if kind == "water":
            # the resident's button asks for a radio session now (docs/water.md §2): the
            # head-end's command need not wait for the next scheduled one
            m.do({"op": "sim", "msg": {"button": "press"}, "run_s": 1}, "probe: button for a session")
        ans = m.cmd(op, args, max_s=7200 if kind == "water" else 30)
        a = _ack(ans)
        if a is None and not ans.get("end"):
            no_exit("%s %r got no answer" % (op, args))
        return a

    def no_exit(msg):
        m.report("no_exit", "%s (state: supply %s, latches %s, alarms %s, minimal %s)" % (
            msg, st()["supply"], st()["latches"], st()["alarms"], st()["minimal"]))
        raise Stuck()             # (only reached when no_exit is ignored: the probe ends)

    try:
        _probe(m, kind, st, command, no_exit)
    except Stuck:
        pass


def _probe(m, kind, st, command, no_exit):
    m.do({"op": "fault", "after": 0, "count": 0}, "probe: flash healed")
    if not m.broker_up:
        m.broker_up = True
        m.do({"op": "link", "up": True}, "probe: broker up")
    if st()["minimal"]:
        a = command("clear", {"alarm": "crash_loop"})
        if st()["minimal"]:
            no_exit("minimal mode: remote clear of crash_loop answered %s" % (a,))
    m.do({"op": "sim", "msg": BENIGN[kind], "run_s": 2}, "probe: world benign", sim=BENIGN[kind])
    patch = dict(SAFE_CREDIT)
    patch.update(SAFE_DRIVER[kind])
    a = command("config", patch)
    if a is not None and not a.get("ok"):
        no_exit("the head-end cannot restore safe settings: %s" % (a,))
    if kind == "water":
        m.do({"op": "sim", "msg": {"button": "press"}, "run_s": 5}, "probe: wake")
    m.do({"op": "tick", "s": 60}, "probe: back in range for 60 s")
    stuck = [n for n in st()["latches"] if n in SELF_CLEARING]
    if stuck:
        no_exit("%s did not clear by itself after 60 s back in range" % stuck)
    for name in list(st()["latches"]):
        if name in REMOTE[kind]:
            a = command("clear", {"alarm": name})
            if a is not None and not a.get("ok") and name in st()["latches"]:
                no_exit("remote clear of %s refused: %s" % (name, a))
    if st()["latches"]:
        no_exit("latches left that no documented exit clears")
    if st()["supply"] == "off_remote":
        command("supply", {"state": "on"})
    for _ in range(3):
        if st()["bal"] > st()["cfg"]["cutoff_minor"] + 500:
            break
        m.txn_n += 1
        need = st()["cfg"]["cutoff_minor"] + 2000 - st()["bal"]
        command("recharge", {"txn": "t%d" % m.txn_n,
                             "amount": max(1, min(need, st()["cfg"]["recharge_max_minor"]))})
    m.do({"op": "tick", "s": 3}, "probe: settle")
    if st()["supply"] == "armed" or (kind == "gas" and st()["supply"] != "on"):
        m.do({"op": "sim", "msg": {"button": "press"}, "run_s": 2}, "probe: button")
        if kind == "gas":
            m.do({"op": "tick", "s": 240}, "probe: leak check")
    m.do({"op": "tick", "s": 5}, "probe: settle")
    if st()["supply"] != "on" or st()["latches"]:
        no_exit("every documented exit taken, the supply is still not on")
