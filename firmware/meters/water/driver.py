# Water meter driver: a battery meter that deep-sleeps between wakes (docs/water.md).
#
# Each wake (tick): read the ULP pulse counters, bill the litres (the sub-litre remainder is
# carried in mL), run the detectors (leak, burst, reverse flow, dry, magnet, battery), drive
# the valve from the supply state, keep the state in RTC memory, and say when to wake next
# (period_s) and whether a radio session is due (session_due).
#
# Billing is exactly-once across deep-sleep reboots: the counter reading that has been billed
# (the "mark") lives in prepay.ext["water"], so it is saved in the same atomic record as the
# balance; after a reboot the pulses since the saved mark are billed again from the counter,
# which the ULP keeps in RTC memory. Only a power cut (counters zeroed) loses the pulses since
# the last prepay save (bounded by the core's consumption batch).
#
# The detectors' windows and the valve's travel time-out run on the board clock's mono_s()
# (docs/architecture.md, "Clock contract": it keeps counting through deep sleep); billing and
# the calendar on the wall clock. The first interval after a power-on has no monotonic
# length (mono_s restarted): it is billed but not fed to the detectors (docs/water.md).
from core.check import is_int
import meters.water.config as water_cfg
from meters.water.detect import Detect
from meters.water.leak import Leak
from meters.water.magnetic import Magnetic
from meters.valve import Valve
from meters.water.exercise import Exercise
from meters.water.flow import Run
from meters.water.sleep import Sessions, rtc_load, rtc_save, wake_pulses



def target_of(want_open):
    return "open" if want_open else "closed"


class Driver(Detect):
    KIND = "water"
    UNIT = "L"
    ARMS = False
    ALWAYS_ONLINE = False
    CONFIG_KEYS = water_cfg.CONFIG_KEYS

    def __init__(self, prepay, board, cfg, store):
        self.p = prepay
        self.b = board
        self.store = store
        self.cfg = water_cfg.validate(water_cfg.pick(cfg))
        tz = cfg.get("tz_offset_s", 0)
        self.tz_s = tz if is_int(tz) else 0
        self.mlpp = board.ml_per_pulse
        now = board.clock.now_s()
        self.now_s = now
        self.kept = board.reset_cause() == "deepsleep"
        st = rtc_load(board.rtc) if self.kept else None
        self.restored = "rtc"
        if st is None:
            st = store.load("water") or {}
            self.restored = "flash" if st else "new"
        # remote `config` patches outlive config.json's values (every wake is a reboot)
        self.cfg_patch = {}
        cp = st.get("cfgp")
        if isinstance(cp, dict):
            try:
                self.cfg = water_cfg.validate(cp, self.cfg)
                self.cfg_patch = cp
            except ValueError as e:
                prepay.emit("config_dropped", now, reason=str(e)[:60])
        self.leak = Leak(now, st.get("leak"))
        self.burst = Run("burst", st.get("burst"))
        self.reverse = Run("reverse_flow", st.get("rev"))
        self.dry = Run("dry", st.get("dry"))
        self.mag = Magnetic(st.get("mag"))
        self.sess = Sessions(now, st.get("sess"), st)
        self.ex = Exercise(self.cfg, self.tz_s, now, st.get("ex"))
        self.batt = st.get("bat", 0)            # 0 ok, 1 low alarm raised, 2 valve parked
        self.wake_now = False
        self.flow_mlph = 0
        self.flash_s = st.get("fs", now)       # last write of the flash record
        self.flash_dirty = False
        mt = st.get("mt")
        self.mono_t = mt if self.kept and isinstance(mt, int) else None   # mono_s at the last tick
        self.valve = Valve(board.valve_open, board.valve_close, board.valve_opened,
                           board.valve_closed, self.cfg["valve_timeout_s"], st.get("valve"))
        self.valve_retry = False
        self.empty = getattr(board, "empty_pipe", None)
        m = prepay.ext.get("water")
        f, r = board.pulses_fwd.value(), board.pulses_rev.value()
        if not isinstance(m, dict):
            m = {"f": f, "r": r, "rem": 0, "rml": 0, "t": now}
        elif not self.kept or f < m["f"] or r < m["r"]:
            # the counters restarted at 0 (power-on): every pulse they hold is unbilled
            m["f"], m["r"] = 0, 0
        prepay.ext["water"] = m
        self.m = m
        # the detectors' own mark (counters and time they last saw) lives in RTC memory with
        # their state: after a deep-sleep wake the billed mark may be older (it is saved with
        # the balance only), and feeding that interval again would count it twice
        dm = st.get("dm") if self.restored == "rtc" else None
        if not (isinstance(dm, list) and len(dm) == 3 and m["f"] <= dm[0] <= f
                and m["r"] <= dm[1] <= r and m["t"] <= dm[2] <= now):
            dm = [m["f"], m["r"], m["t"]]
        self.dm = dm

    # ---------------------------------------------------------------- one wake
    def tick(self, now_s):
        self.now_s = now_s
        self.wake_now = False
        take = getattr(self.b, "take_press", None)     # the local button (IRQ or ext0 wake)
        if take is not None and take():
            self.button(now_s)
        cfg = self.cfg
        m = self.m
        f, r = self.b.pulses_fwd.value(), self.b.pulses_rev.value()
        dfwd, drev = f - m["f"], r - m["r"]
        dm = self.dm
        if dfwd < 0 or drev < 0:       # a counter went back: a power cut we missed
            dfwd, drev = max(f, 0), max(r, 0)
            dm[0] = dm[1] = 0
        t0 = m["t"]
        vol_ml = dfwd * self.mlpp
        total_ml = m["rem"] + vol_ml
        use_l = total_ml // 1000
        if use_l:
            self.p.consume(min(t0, now_s), now_s, use_l)
        # the mark and the remainder change together with the balance (same record)
        m["f"], m["r"], m["rem"], m["t"] = f, r, total_ml % 1000, max(t0, now_s)
        m["rml"] += drev * self.mlpp   # reverse register: counted, never billed
        self._follow_clears()
        mono = self.b.clock.mono_s()
        mt = self.mono_t
        mdt = mono - mt if mt is not None and mono >= mt else 0
        self.mono_t = mono
        # the detectors see each interval once, from their own mark (see __init__), over
        # its length in monotonic seconds; after a cold boot the first interval is unknown
        if mdt > 0 or mt is None:
            dvol_ml, ddrev = max(f - dm[0], 0) * self.mlpp, max(r - dm[1], 0)
            if mdt > 0:
                self.flow_mlph = dvol_ml * 3600 // mdt
                self._detectors(mdt, dvol_ml, ddrev)
            dm[0], dm[1], dm[2] = f, r, now_s
        self._magnet(now_s, mdt)
        self._battery(now_s)
        self._valve(now_s, mono, vol_ml or drev)
        self._persist(now_s)

    # ---------------------------------------------------------------- the valve
    def _valve(self, now_s, mono, flowing):
        v = self.valve
        # the actuator is open only while the supply is "on" (architecture.md); a battery
        # park to "closed" works through its latched alarm, a park to "open" leaves it so
        want = self.p.supply.state == "on"
        want, done = self.ex.step(self.cfg, now_s, want, v.position, flowing, self.batt == 0)
        if done:
            self.p.emit("valve_exercise", now_s, travel_s=v.travel_s)
            self.flash_dirty = True
        busy = "opening" if want else "closing"
        if v.position not in (target_of(want), busy) and (not v.fault or self.valve_retry):
            self.valve_retry = False
            v.command(want, mono)
        for e in v.poll(mono):
            if e["event"] == "fault" and "valve_fault" not in self.p.alarms:
                self._raise("valve_fault", now_s, reason=e["reason"], target=e["target"])
                self.ex.abort()
            elif e["event"] == "reached" and "valve_fault" in self.p.alarms:
                self._clear("valve_fault", now_s)

    # ---------------------------------------------------------------- persistence, sleep
    def _state(self):
        return {"leak": self.leak.to_dict(), "burst": self.burst.to_dict(),
                "rev": self.reverse.to_dict(), "dry": self.dry.to_dict(),
                "mag": self.mag.to_dict(), "sess": self.sess.to_dict(),
                "ex": self.ex.to_dict(), "bat": self.batt,
                "seq": self.sess.seen_seq, "sup": self.sess.last_supply, "al": self.sess.last_alarms,
                "fs": self.flash_s, "valve": self.valve.to_dict(), "cfgp": self.cfg_patch,
                "mt": self.mono_t, "dm": self.dm}

    def _persist(self, now_s):
        # RTC memory every wake (no wear); flash only when an alarm/valve/magnet state changed
        # or once a day, so a power cut loses at most a day of detector progress. A failed
        # flash write (full or worn) is retried at the next wake, never raised (Store.failing
        # raises storage_fault meanwhile)
        st = self._state()
        if self.flash_dirty or now_s - self.flash_s >= 86400:
            st["fs"] = now_s
            try:
                self.store.save("water", st)
                self.flash_s = now_s
                self.flash_dirty = False
            except OSError:
                self.flash_dirty = True
                st["fs"] = self.flash_s
        self.rtc_bytes = rtc_save(self.b.rtc, st)

    def period_s(self):
        if self.wake_now or self.valve.moving or self.ex.phase:
            return 1
        if (self.p.supply.state == "on") != (self.valve.position == "open") and not self.valve.fault:
            return 1    # the core changed the supply after our tick: move the valve now
        now = self.now_s
        s = self.sess.timer_s(now, self.cfg, self.p.supply.state == "off_credit")
        if self.ex.next_s > now:
            s = min(s, self.ex.next_s - now)
        plan = getattr(self.b, "sleep_plan", None)
        return plan(s, wake_pulses(self.cfg, self.mlpp)) if plan else s

    def session_due(self, now_s):
        reason = self.sess.check(self.p, now_s, self.cfg)
        if reason is None:
            return False
        self.last_reason = reason
        self.rtc_bytes = rtc_save(self.b.rtc, self._state())
        return True

    def session_end(self, now_s, ok):
        """The app's word on the session session_due() started: ok when the broker was
        reached and the outbox drained; otherwise it is retried with backoff."""
        self.sess.ended(now_s, ok, self.cfg)
        self.rtc_bytes = rtc_save(self.b.rtc, self._state())

    def session_max_ms(self):
        return self.cfg["session_max_s"] * 1000

    # ---------------------------------------------------------------- contract
    def button(self, now_s):
        # the resident paid and presses the button: fetch the credit now; confirm if armed
        if self.p.supply.state == "armed":
            self.p.button(now_s)
        self.sess.request("button", at_once=True)
        self.wake_now = True

    def sim(self, msg):
        self.b.sim(msg)
        if "magnet" in msg or "button" in msg:
            self.wake_now = True     # ext0 / ext1 wake

    def telemetry(self, now_s):
        return {"flow_lph": self.flow_mlph // 1000, "reverse_l": self.m["rml"] // 1000,
                "battery_mv": self.battery_mv(), "valve": self.valve.position,
                "magnet_n": self.mag.count,
                "alarm_h": [self.leak.alarm_s // 3600, self.burst.alarm_s // 3600,
                            self.reverse.alarm_s // 3600, self.dry.alarm_s // 3600,
                            self.mag.total_s // 3600]}

    def op(self, name, args, now_s):
        if name == "valve_exercise":
            if self.p.supply.state != "on" or self.valve.position != "open":
                return "refused"
            self.ex.run_now(now_s)
            self.wake_now = True
            return "ok"
        return None

    def can_clear(self, alarm, remote):
        # a rule only, with no effect: the clear may still be refused (alarm not active) or
        # rolled back (its save failed); _follow_clears acts once it is in the record
        if alarm == Magnetic.NAME:
            return self.mag.can_clear()
        if alarm in ("burst", "valve_fault"):
            return True
        # leak_suspected, reverse_flow, dry, battery_*: cleared by their condition only
        return False

    def check_config(self, patch, now_s):
        water_cfg.validate(patch, self.cfg)

    def configure(self, patch, now_s):
        """Validate, write the flash record with the new settings (acknowledged to the
        head-end: on flash before the ack; OSError: nothing changed), then apply. Returns a
        callable that puts the old settings back (when the prepay save that follows fails)."""
        new = water_cfg.validate(patch, self.cfg)
        cp = dict(self.cfg_patch)
        cp.update(patch)
        old = (self.cfg, self.cfg_patch, self.ex.next_s)
        self.cfg, self.cfg_patch = new, cp
        try:
            st = self._state()
            st["fs"] = now_s
            self.store.save("water", st)
        except OSError:
            self.cfg, self.cfg_patch = old[0], old[1]
            raise
        self.flash_s = now_s
        self.ex.schedule(new, now_s)
        self.rtc_bytes = rtc_save(self.b.rtc, self._state())

        def undo():
            self.cfg, self.cfg_patch, self.ex.next_s = old
            self.flash_dirty = True
            self._persist(now_s)
        return undo

    def safe_stop(self, now_s):
        self.valve.stop()
        self.flash_dirty = True
        self._persist(now_s)
