# Electricity meter driver: BL0942 metering IC, latching relay, malicious-load
# identification and electrical protection, on the shared prepay core.
# Board attributes used (docs/electricity.md): meter_uart, meter_poll_ms, relay_set,
# relay_reset, sleep_ms, clock, take_press (and sim() on the sim board).
# The protection timers (reclose, the 24 h lockout window, the relay's retries, the credit
# cut-off deferral, the energy plausibility interval) run on clock.mono_s(), never on the
# wall clock (docs/architecture.md, "Clock contract"); the trip and band counts count ticks.
import meters.electricity.bl0942 as bl0942
import meters.electricity.relay as relay
import meters.electricity.malicious_load as malicious_load
import meters.electricity.protection as protection
import meters.electricity.config as elec_config

RECORD = "elec"            # driver store record: relay position + trip counters (rare writes)
UWH_PER_WH = 1000000
IC_MISSING_S = 5           # seconds without a good frame before metering_fault


class Driver:
    KIND = "electricity"
    UNIT = "Wh"
    ARMS = False
    ALWAYS_ONLINE = True
    CONFIG_KEYS = ("bl0942", "relay", "malicious_load", "overload", "voltage")
    RECORD = RECORD

    def __init__(self, prepay, board, cfg, store):
        self.p = prepay
        self.b = board
        self.store = store
        st = store.load(RECORD) or {}
        # runtime `config` ops persist here and win over config.json's values; overrides
        # this firmware refuses (an older firmware's record) are dropped with an event,
        # never a reason not to start (config.json itself must be valid: exit 2)
        self.over = st.get("cfg") if isinstance(st.get("cfg"), dict) else {}
        self.dirty = False
        try:
            cfg = elec_config.settings(self, cfg, self.over)
        except (ValueError, TypeError, AttributeError) as e:
            if not self.over:
                raise
            prepay.emit("config_dropped", board.clock.now_s(), reason=str(e)[:60])
            self.over = {}
            self.dirty = True
            cfg = elec_config.settings(self, cfg, {})
        self.ic = bl0942.BL0942(board.meter_uart, cfg.get("bl0942"))
        self.poll_ms = getattr(board, "meter_poll_ms", 0) or 0
        self.relay = relay.Relay(board.relay_set, board.relay_reset, board.sleep_ms,
                                 self.rcfg, closed=st.get("closed"))
        self.vote = malicious_load.StepVote(self.mcfg)
        self.mono = mono = board.clock.mono_s()
        self.ml = protection.Recloser(st.get("ml"), mono, self.mcfg["reclose_s"])
        self.overload = protection.Overload(self.ocfg, st.get("ol"), mono)
        # what each latch on flash needs in order to clear by its own rule after a boot
        # (docs/electricity.md): the voltage fault it stands for (ends after normal_s in
        # band), and a reclose window for a trip whose detector state did not load
        latches = prepay.supply.latches
        vfault = None
        for name in ("over_voltage", "under_voltage"):
            if name in latches:
                vfault = name
        self.volt = protection.Voltage(self.vcfg, vfault)
        if "overload" in latches and not self.overload.tripped:
            self.overload.latched(mono)
        if "malicious_load" in latches and not (self.ml.locked or self.ml.reclose_at is not None):
            self.ml.latched(mono, self.mcfg["reclose_s"])
        ext = prepay.ext.get("elec")
        if not isinstance(ext, dict):
            ext = {"carry_uwh": 0, "register_wh": 0}
            prepay.ext["elec"] = ext
        self.ext = ext
        self._t0 = None            # start of the interval not yet handed to prepay.consume
        self._t_frame = None       # mono_s of the last frame (the energy plausibility interval)
        self.last = None           # last decoded bl0942.Sample
        self._missing_s = 0
        self._booted = False
        self._credit_wait_since = None
        if not self.poll_ms:
            self.ic.request()

    # ---- the metering tick ----
    def tick(self, now_s):
        self.mono = self.b.clock.mono_s()
        frames = self.ic.frames()
        if not self.poll_ms:
            self.ic.request()      # answer arrives for the next tick
        if self._t0 is None:
            self._t0 = now_s
        if frames:
            self._missing_s = 0
            if "metering_fault" in self.p.alarms:
                self.p.alarm_clear("metering_fault", now_s)
            self._meter(frames, now_s)
        else:
            self._missing_s += 1
            if self._missing_s == IC_MISSING_S:
                self.p.alarm("metering_fault", now_s, counters=self.ic.counters())
        take = getattr(self.b, "take_press", None)     # the local button, latched by its IRQ
        if take is not None and take():
            self.button(now_s)
        self._drive(now_s)
        if self.dirty or self.relay.dirty:
            self.persist()

    def _meter(self, frames, now_s):
        closed = self.relay.closed
        mode = self.mcfg["mode"]
        for f in frames:
            s = self.ic.decode(f)
            if mode == "off":
                break
            # fed while open too (P = 0 then), so closing onto a heater left switched on
            # is itself a step: waiting for the reclose is no way around the detector
            step_w = self.vote.sample(s.power_w, s.va)
            if step_w and closed:
                self._malicious(step_w, now_s)
                if mode == "trip":
                    break
        last = self.ic.decode(frames[-1])
        self.last = last
        m = self.mono
        dt = m - self._t_frame if self._t_frame is not None else 1
        self._t_frame = m
        ext = self.ext
        ext["carry_uwh"] += self.ic.energy_uwh(last.cf_cnt, dt)
        wh = ext["carry_uwh"] // UWH_PER_WH
        if wh > 0:
            # the interval since the last hand-over, so the tariff splits it at any boundary
            self.p.consume(self._t0, now_s if now_s > self._t0 else self._t0 + 1, wh)
            ext["carry_uwh"] -= wh * UWH_PER_WH
            ext["register_wh"] += wh
            self._t0 = now_s
        self._protect(last, now_s)

    def _malicious(self, step_w, now_s):
        fields = {"step_w": step_w, "pf_milli": self.vote.last_pf_milli}
        if self.mcfg["mode"] == "alarm":
            self.p.alarm("malicious_load", now_s, latch=False, **fields)
            return
        action = self.ml.trip(self.mono, self.mcfg["reclose_s"], self.mcfg["lockout_trips"])
        self.dirty = True
        self.p.alarm("malicious_load", now_s, latch=True, action=action,
                     trips=len(self.ml.trips), **fields)
        self._open_now(now_s)

    def _protect(self, s, now_s):
        r = self.overload.tick(s.power_w, self.mono)
        if r in ("trip", "lockout"):
            self.dirty = True
            self.p.alarm("overload", now_s, latch=True, action=r, power_w=s.power_w,
                         limit_w=self.ocfg["limit_w"], trips=len(self.overload.rec.trips))
            self._open_now(now_s)
        elif r == "reclose":
            self.dirty = True
            self._clear("overload", now_s)
        v = self.volt.tick(s.voltage_mv, now_s)
        if v is not None:
            if v[0] == "open":
                self.p.alarm(v[1], now_s, latch=True, voltage_mv=s.voltage_mv)
                self._open_now(now_s)
            else:
                self._clear(v[1], now_s)

    def _clear(self, name, now_s):
        # a detector's own clear: the alarm may be gone already (a remote or console clear
        # landed first), which is no error
        p = self.p
        if name in p.alarms or name in p.supply.latches:
            p.alarm_clear(name, now_s)

    def _open_now(self, now_s):
        # a safety trip never waits: open in this tick, before the next sample
        self.vote.reset()
        self.relay.drive(False)

    def _drive(self, now_s):
        alarms = self.p.alarms
        # a remote / console clear of a tripped or locked-out detector
        if (self.ml.locked or self.ml.reclose_at is not None) and "malicious_load" not in alarms:
            self.ml.cleared()
            self.dirty = True
        if self.overload.tripped and "overload" not in alarms:
            self.overload.cleared()
            self.dirty = True
        if self.ml.due(self.mono):
            self.dirty = True
            self._clear("malicious_load", now_s)
        state = self.p.supply.state
        want = state == "on" and not self._fault_opens()
        cur = self.last.current_ma if self.last else 0
        if not want and self.relay.closed and state == "off_credit" and \
                cur > self.rcfg["credit_wait_ma"]:
            # DL/T 645 meters: a credit trip waits while the current is high, to spare the contacts
            if self._credit_wait_since is None:
                self._credit_wait_since = self.mono
                self.p.emit("cutoff_deferred", now_s, current_ma=cur)
            if self.mono - self._credit_wait_since < self.rcfg["credit_wait_max_s"]:
                want = True
        if state != "off_credit" or not self.relay.closed:
            self._credit_wait_since = None
        fb = self.relay.feedback(cur, self.mono) if self._booted else None
        if fb == "fault":
            self.p.alarm(self.rcfg["fault_alarm"], now_s, current_ma=cur)
        elif fb == "ok":
            self._clear(self.rcfg["fault_alarm"], now_s)
        # at boot always re-pulse: the stored position may predate a power cut mid-pulse
        self.relay.drive(want, force=not self._booted)
        self._booted = True

    def record_of(self, over):
        m = self.b.clock.mono_s()
        return {"closed": self.relay.closed, "ml": self.ml.to_dict(m),
                "ol": self.overload.rec.to_dict(m), "cfg": over}

    def persist(self):
        # a failed write (flash full or worn) never stops the tick: the flags stay set and
        # the next tick writes again (Store.failing raises storage_fault meanwhile)
        try:
            self.store.save(RECORD, self.record_of(self.over))
        except OSError:
            return
        self.relay.dirty = False
        self.dirty = False

    # ---- the rest of the driver contract ----
    def period_s(self):
        return 1

    def button(self, now_s):
        """Local button: confirms an armed supply, else takes emergency credit if offered."""
        if self.p.supply.state == "armed":
            self.p.button(now_s)
            return "confirmed"
        try:
            self.p.emergency(now_s)
            return "emergency"
        except ValueError:
            return None

    def sim(self, msg):
        if isinstance(msg, dict) and "button" in msg:
            if msg["button"] != "press":
                raise ValueError("sim: button must be \"press\"")
            rest = {k: v for k, v in msg.items() if k != "button"}
            if rest:
                self.b.sim(rest)
            self.button(self.b.clock.now_s())
            return
        self.b.sim(msg)

    def telemetry(self, now_s):
        s = self.last
        price = self.p.price_now(now_s)
        p_w = s.power_w if s else 0
        out = {"voltage_mv": s.voltage_mv if s else 0, "current_ma": s.current_ma if s else 0,
               "power_w": p_w, "pf_milli": (p_w * 1000 // s.va) if s and s.va > 0 else 0,
               "price_micro": price,
               # minor units per hour at the present power: W * 1 h = Wh, times price per Wh
               "cost_minor_per_h": p_w * price // 1000000 if p_w > 0 else 0,
               "register_wh": self.ext["register_wh"],
               "relay": "closed" if self.relay.closed else "open",
               "ic": self.ic.counters()}
        if s and s.period_us:
            out["freq_mhz"] = 1000000000 // s.period_us
        return out

    def op(self, name, args, now_s):
        return None

    def can_clear(self, alarm, remote):
        if alarm in ("malicious_load", "overload"):
            return True                      # the only way out of a lockout
        if alarm in ("relay_fault", "bypass"):
            return not remote                # needs a technician on site
        if alarm in ("over_voltage", "under_voltage"):
            return self.volt.fault != alarm  # clears itself once the voltage is back
        return False

    def _fault_opens(self):
        return self.rcfg["tick_fault"] == "open" and "tick_fault" in self.p.alarms

    def fault_drive(self, now_s):
        """Every tick that faults (app_safety.tick_fault), when this driver's own _drive may
        not have run: the relay follows what needs no metering. It opens when the supply is
        not "on" (credit gone, remote off, a safety latch) or relay.tick_fault is "open";
        otherwise it holds: a metering fault alone never cuts a resident's supply."""
        if self.relay.closed is not False and (self.p.supply.state != "on" or self._fault_opens()):
            self.relay.drive(False)
            self.persist()

    def safe_stop(self, now_s):
        # the latching relay holds its position unpowered: a restart must not cut the
        # customer off, so leave it and persist what we know
        self.persist()

    def check_config(self, patch, now_s):
        """Validate a config patch of CONFIG_KEYS without applying it (ValueError)."""
        return elec_config.check(self, patch)

    def configure(self, patch, now_s):
        """Write, then apply; returns the undo (meters/electricity/config.py)."""
        return elec_config.configure(self, patch)
