# Gas meter driver: safety first. The valve never opens by itself nor by a remote command:
# every re-open goes through `armed` -> a local confirmation (button) or an allowed remote
# selfcheck -> the leak check (leak_check.py) -> prepay.confirm_restore(). Shutoffs
# (safety.py) latch off_safety through prepay.alarm(). Procedure and thresholds:
# docs/gas.md.
# Every safety window (the leak check, the flow windows, long use, the micro-leak clock,
# the valve's travel time-out) runs on the board clock's mono_s(), never on the wall clock
# (docs/architecture.md, "Clock contract"): a clock change never shortens or skips one.
from meters.valve import Valve
from meters.gas.safety import validate, FlowSafety, BatteryGuard
from meters.gas.leak_check import LeakCheck
import meters.gas.config as gas_config

RECORD = "gas"
# Shutoffs the resident may reset at the meter with the restoration procedure (JP meter:
# reset button after a shutoff, then the leak check). Others need a technician / head-end.
RESIDENT_CLEARABLE = ("over_flow", "flow_surge", "uncontrolled_flow", "long_use", "seismic",
                      "leak_on_restore", "restart_closed")
REMOTE_CLEARABLE = RESIDENT_CLEARABLE + ("tamper", "valve_fault", "low_voltage")


class Driver:
    KIND = "gas"
    UNIT = "L"
    ARMS = True
    ALWAYS_ONLINE = True
    CONFIG_KEYS = ("gas",)
    RECORD = RECORD

    def __init__(self, prepay, board, cfg, store):
        self.p = prepay
        self.b = board
        self.store = store
        now = board.clock.now_s()
        mono = board.clock.mono_s()
        st = store.load(RECORD) or {}
        base = (cfg or {}).get("gas") or {}
        self.over = dict(st.get("cfg") or base)
        try:
            self.s = validate(self.over)
        except ValueError as e:
            # settings this firmware refuses (an older firmware's record): config.json's,
            # with an event, never a reason not to start
            if not st.get("cfg"):
                raise
            prepay.emit("config_dropped", now, reason=str(e)[:60])
            self.over = dict(base)
            self.s = validate(self.over)
        self.valve = Valve(board.valve_open, board.valve_close, board.valve_opened,
                           board.valve_closed, self.s["valve_timeout_s"], st.get("valve"))
        unquiet = st.get("unquiet_s")
        if not isinstance(unquiet, int) and isinstance(st.get("last_quiet_s"), int):
            unquiet = now - st["last_quiet_s"]      # a record of firmware that kept wall time
        self.safety = FlowSafety(self.s, mono, unquiet, board.pulse_ml)
        self.bat = BatteryGuard(self.s)
        # the battery level a latch stands for: a boot (a cell swap is one) re-measures it
        # from there, so a good cell clears low_voltage by its rule and a weak one cannot
        if "low_voltage" in prepay.supply.latches or "low_voltage" in prepay.alarms:
            self.bat.level = "shut"
        elif "low_voltage_warn" in prepay.alarms:
            self.bat.level = "warn"
        self.bat.mv = self._battery_mv()     # a reading before the first tick (boot-time button)
        self.check = LeakCheck(self.s)
        self.tamper = getattr(board, "tamper", None)
        self._pulses = board.flow.value()
        self._rem_ml = prepay.ext.get("gas_rem_ml", 0)
        self._t = now
        self._saved_mono = mono
        self._save_due = False       # a driver-record write failed: retried every tick
        self.react = {}              # alarm name -> now_s it was raised (bench figures)
        if st.get("check"):
            # Rebooted during a leak check: its result is unknown, the valve comes back closed.
            prepay.emit("leak_check", now, result="abort", reason="reboot")
        if prepay.supply.state == "on" and self.valve.position != "open":
            # Closed while we were down (shutdown, reboot mid-travel): gas must not come back
            # without the restoration procedure.
            prepay.alarm("restart_closed", now, latch=True, position=self.valve.position)
        self.save_record(now)

    # ---- persistence (driver record, not money) ---------------------------------
    def record_of(self, over):
        return {"valve": self.valve.to_dict(), "cfg": over,
                "unquiet_s": self.safety.unquiet_s, "check": self.check.active}

    def save_record(self, now_s):
        # a failed write (flash full or worn) never stops the safety tick: the record is
        # written again at the next tick (Store.failing raises storage_fault meanwhile)
        try:
            self.store.save(RECORD, self.record_of(self.over))
            self._save_due = False
        except OSError:
            self._save_due = True
        self._saved_mono = self.b.clock.mono_s()

    # ---- the tick ------------------------------------------------------------------
    def period_s(self):
        return 1

    def tick(self, now_s):
        b, p = self.b, self.p
        mono = b.clock.mono_s()
        c = b.flow.value()
        d = c - self._pulses
        self._pulses = c
        if d < 0:
            p.emit("counter_reset", now_s, was=c - d, now=c)
            d = 0
        ml = d * b.pulse_ml
        self._rem_ml += ml
        litres = self._rem_ml // 1000
        if litres:
            self._rem_ml -= litres * 1000
            p.consume(self._t, now_s, litres)
        p.ext["gas_rem_ml"] = self._rem_ml
        self._t = now_s
        gal = b.vibration.read_uv() // b.vib_uv_per_gal
        for name, f in self.safety.feed(mono, ml, gal):
            self._finding(name, f, now_s)
        self._battery(self._battery_mv(), now_s)
        if self.tamper is not None and self.tamper.value() and "tamper" not in p.alarms:
            self._shut("tamper", now_s)
        take = getattr(b, "take_press", None)     # sim board: presses from the sim topic
        if take is not None and take():
            self.button(now_s)
        self._leak_check(now_s, ml)
        self._drive(now_s)
        if self._save_due or mono - self._saved_mono >= self.s["save_s"]:
            self.save_record(now_s)

    def _shut(self, name, now_s, **f):
        if name not in self.p.alarms:
            self.react[name] = now_s
        self.p.alarm(name, now_s, latch=True, **f)

    def _finding(self, name, f, now_s):
        p = self.p
        if name in self.safety.SHUTOFFS:
            self._shut(name, now_s, **f)
        elif name == "seismic_record":
            p.emit("seismic", now_s, gal=f["gal"], flowing=False)
        elif name == "micro_leak":
            p.alarm("micro_leak", now_s, latch=False, **f)
            self.save_record(now_s)
        elif name == "micro_leak_clear":
            if "micro_leak" in p.alarms:
                p.alarm_clear("micro_leak", now_s)
            self.save_record(now_s)

    def _battery_mv(self):
        return self.b.battery.read_uv() * self.b.battery_div // 1000

    def _battery(self, mv, now_s):
        p = self.p
        lvl = self.bat.feed(mv)
        if lvl is None:
            return
        if lvl == "warn":
            p.alarm("low_voltage_warn", now_s, latch=False, battery_mv=mv)
        elif lvl == "shut":
            if "low_voltage_warn" not in p.alarms:
                p.alarm("low_voltage_warn", now_s, latch=False, battery_mv=mv)
            self._shut("low_voltage", now_s, battery_mv=mv)
        else:
            # Recovered (new cell): the latch goes, the supply arms; it never re-opens itself.
            for n in ("low_voltage", "low_voltage_warn"):
                if n in p.alarms or n in p.supply.latches:
                    p.alarm_clear(n, now_s)

    def _leak_check(self, now_s, ml):
        chk = self.check
        if not chk.active:
            return
        if self.p.supply.state != "armed":
            chk.stop()
            self.p.emit("leak_check", now_s, result="abort", reason=self.p.supply.state)
            self.save_record(now_s)
            return
        r = chk.feed(self.b.clock.mono_s(), ml, self.valve.position)
        if r is None:
            return
        res, f = r
        self.p.emit("leak_check", now_s, result=res, **f)
        if res == "pass":
            self.p.confirm_restore(now_s)
            self.safety.reopened(self.b.clock.mono_s())
        elif res == "fail":
            self._shut("leak_on_restore", now_s, vol_ml=f["vol_ml"])
        self.save_record(now_s)

    def _drive(self, now_s):
        st = self.p.supply.state
        want = (st == "on" or (st == "armed" and self.check.active)) and self.bat.can_open()
        v = self.valve
        mono = self.b.clock.mono_s()      # the valve's travel time-out
        if want and v.position in ("closed", "closing"):
            if not v.command(True, mono):
                self.p.emit("valve", now_s, position=v.position, refused="fault")
        elif not want and v.position in ("open", "opening"):
            v.command(False, mono)
        for e in v.poll(mono):
            self._valve_event(e, now_s)

    def _valve_event(self, e, now_s):
        p = self.p
        if e["event"] == "reached":
            p.emit("valve", now_s, position=e["position"], travel_s=e["travel_s"])
            self.save_record(now_s)
        elif e["event"] == "fault":
            self._shut("valve_fault", now_s, reason=e["reason"], target=e["target"])
            self.check.stop()
            if e["target"] == "open":
                self.valve.command(False, self.b.clock.mono_s())   # one attempt back to the safe end
            self.save_record(now_s)
        else:
            p.emit("valve_drift", now_s, position=e["position"])

    # ---- local and remote actions --------------------------------------------------
    def button(self, now_s):
        """The meter's button: the resident's "appliances off" confirmation (docs/gas.md)."""
        p = self.p
        if self.check.active:
            p.emit("button", now_s, result="busy")
            return "busy"
        if p.supply.state == "off_safety":
            for name in list(p.supply.latches):
                if name in RESIDENT_CLEARABLE:
                    p.alarm_clear(name, now_s)
        st = p.supply.state
        if st in ("off_credit", "on"):
            try:
                p.emergency(now_s)        # taking emergency credit is also the confirmation
            except ValueError as e:
                if st == "off_credit":
                    p.emit("button", now_s, result=str(e))
                    return str(e)
                return "on"
        st = p.supply.state
        if st != "armed":
            p.emit("button", now_s, result="locked", state=st, latches=sorted(p.supply.latches))
            return "locked"
        return self._start_check(now_s, "button")

    def _refusal(self):
        if not self.bat.can_start():
            return "low_voltage"
        if self.valve.fault:
            return "valve_fault"
        return None

    def _start_check(self, now_s, via):
        why = self._refusal()
        if why:
            self.p.emit("leak_check", now_s, result="refused", reason=why, via=via)
            return why
        self.check.start(self.b.clock.mono_s(), via)
        self.p.emit("leak_check", now_s, result="started", via=via, check_s=self.s["check_s"])
        self.save_record(now_s)
        self._drive(now_s)
        return "started"

    def op(self, name, args, now_s):
        if name != "selfcheck":
            return None
        if args not in (None, {}):
            raise ValueError("selfcheck takes no args")
        if not self.s["selfcheck"]:
            raise ValueError("selfcheck disabled by config")
        if self.p.supply.state != "armed":
            raise ValueError("not_armed")
        if self.check.active:
            raise ValueError("check already running")
        why = self._refusal()
        if why:
            raise ValueError(why)       # a refused command changes nothing, emits nothing
        r = self._start_check(now_s, "selfcheck")
        if r != "started":
            raise ValueError(r)
        return "ok"

    def sim(self, msg):
        return self.b.sim(msg)

    def telemetry(self, now_s):
        return {"flow_lph": self.safety.rate_lph(), "valve": self.valve.position,
                "battery_mv": self.bat.mv, "check": self.check.phase,
                "micro_leak": self.safety.micro_leak}

    def can_clear(self, alarm, remote):
        if alarm == "low_voltage" or alarm == "low_voltage_warn":
            return self.bat.level != "shut"
        if alarm == "valve_fault":
            return remote and not self.valve.fault
        if alarm == "micro_leak":
            return True
        return alarm in (REMOTE_CLEARABLE if remote else RESIDENT_CLEARABLE)

    def check_config(self, patch, now_s):
        return gas_config.check(self, patch)

    def configure(self, patch, now_s):
        """Write, then apply; returns the undo (meters/gas/config.py)."""
        return gas_config.configure(self, patch, now_s)

    def safe_stop(self, now_s):
        self.check.stop()
        if self.valve.position != "closed":
            self.valve.command(False, now_s)
        self.save_record(now_s)
