# Gas safety detectors: plain logic, fed once per tick with the millilitres that went
# through the meter since the last tick and the monotonic time (mono_s: never moved by a
# change of the wall clock, docs/architecture.md). No clock, no hardware. Thresholds follow the
# Japanese microcomputer gas meter (マイコンメーター) and GB SMETS2 (GBCS prepayment);
# every default is listed with its source in docs/gas.md.
from core.check import bool_, int_in

DEFAULTS = {
    "rate_window_s": 5,        # flow rate = mL over the last 5 s (sensor pulses are 10 mL)
    "max_total_lph": 4000,     # over_flow: household meter rating N4 = 4 m3/h (JP meter)
    "over_confirm_s": 5,       # ... held for 5 s
    "surge_lph": 3400,         # flow_surge: rise > largest appliance (24-go water heater 3.4 m3/h)
    "surge_window_s": 10,      # ... within 10 s
    "uncontrolled_lph": 1000,  # GB SMETS2 uncontrolled flow rate after a re-open
    "uncontrolled_s": 300,     # ... watched for the first 5 min
    # long_use: [max_lph, limit_min] bands, last band open-ended (JP: fan heater 720 min,
    # hob 2-4 h, shower/water heater 30-60 min)
    "long_use": [[400, 720], [1500, 240], [0, 60]],
    "steady_pct": 10,          # a minute differing > 10 % from the run's mean = a person adjusted it
    "gap_s": 60,               # no pulse for 60 s ends a run of use
    "seismic_gal": 200,        # JP: intensity 5 ~ 200 gal, shut only while gas flows
    "micro_leak_days": 30,     # JP: 30 days of never-quiet flow -> warning
    "quiet_s": 3600,           # a quiet hour (no pulse) resets the micro-leak clock
    "warn_mv": 3300,           # low_voltage warning (Li-SOCl2 3.6 V cell, project choice)
    "shut_mv": 3100,           # below: close the valve while the cell can still move it
    "recover_mv": 3400,        # re-open allowed again only at or above this
    "battery_confirm": 3,      # consecutive samples before acting (load dips)
    "check_s": 180,            # restoration leak check length (JP: 1-3 min, Tokyo Gas 3 min)
    "leak_lph": 5,             # flow above this on average during the check = leak_on_restore
    "selfcheck": True,         # allow the remote "selfcheck" op (runs the check without button)
    "valve_timeout_s": 20,     # valve travel time-out (travel is ~6 s) -> valve_fault
    "save_s": 21600,           # driver record (micro-leak clock) saved at most every 6 h
}


def validate(cfg):
    """cfg: a dict of overrides; returns the merged settings or raises ValueError."""
    if not isinstance(cfg, dict):
        raise ValueError("gas config must be an object")
    for k in cfg:
        if k not in DEFAULTS:
            raise ValueError("unknown gas safety key %s" % k)
    for k, v in cfg.items():
        if k == "long_use":
            if not isinstance(v, list) or not 1 <= len(v) <= 8:
                raise ValueError("gas config long_use must be a list of 1..8 [max_lph, limit_min]")
            last = 0
            for i, b in enumerate(v):
                if not isinstance(b, list) or len(b) != 2:
                    raise ValueError("gas config long_use[%d] must be [max_lph, limit_min]" % i)
                int_in(b[0], "gas config long_use max_lph", 0, 100000)
                int_in(b[1], "gas config long_use limit_min", 1, 10080)
                end = i == len(v) - 1
                if end != (b[0] == 0) or (not end and b[0] <= last):
                    raise ValueError("gas config long_use bands must rise, last band max_lph 0")
                last = b[0]
        elif k == "selfcheck":
            bool_(v, "gas config selfcheck")
        else:
            int_in(v, "gas config " + k, 1, 10000000)
    m = dict(DEFAULTS)
    m.update(cfg)
    if not m["shut_mv"] < m["warn_mv"] <= m["recover_mv"]:
        raise ValueError("gas config needs shut_mv < warn_mv <= recover_mv")
    if m["rate_window_s"] > 60 or m["surge_window_s"] > 120:
        raise ValueError("gas config rate_window_s <= 60 and surge_window_s <= 120")
    return m


class FlowSafety:
    """over_flow, flow_surge, uncontrolled_flow, long_use, seismic, micro_leak.
    feed() returns a list of (name, fields) findings; names ending in shutoffs are listed
    in SHUTOFFS, the rest are warnings/records."""
    SHUTOFFS = ("over_flow", "flow_surge", "uncontrolled_flow", "long_use", "seismic")

    def __init__(self, s, mono_s, unquiet_s=None, pulse_ml=10):
        self.s = s
        # One sensor pulse of dead band: a window can hold one pulse more than the true
        # volume, so a flow exactly at a threshold never trips (resolution: pulse_ml per
        # rate_window_s, 7.2 L/h with the defaults).
        self._band_x3600 = pulse_ml * 3600
        w = s["rate_window_s"]
        self._sec = [0] * w            # mL per second, ring
        self._sums = [0] * (s["surge_window_s"] + 1)   # window sums, ring
        self._i = 0
        self._j = 0
        self._t = mono_s
        self.sum_ml = 0                # mL in the current rate window
        self._over_s = 0
        self._reopen_s = None
        self._run0_s = None
        self._run_ml = 0
        self._min_ml = 0
        self._min_t = 0
        self._idle_s = 0
        self._quiet_s = 0
        # seconds of use without a quiet period (the micro-leak clock); persisted by the
        # driver every save_s, so a reboot loses at most that much of the window
        self.unquiet_s = unquiet_s if isinstance(unquiet_s, int) and unquiet_s > 0 else 0
        self.micro_leak = False
        self._quake = False

    def retune(self, s):
        """New settings (the same dict, updated in place by the driver): the timers and runs
        go on; only a ring whose length changed is rebuilt from its newest samples."""
        self.s = s
        w = s["rate_window_s"]
        if w != len(self._sec):
            old = self._sec[self._i:] + self._sec[:self._i]     # oldest first
            new = ([0] * w + old)[-w:]
            self._sec, self._i, self.sum_ml = new, 0, sum(new)
        n = s["surge_window_s"] + 1
        if n != len(self._sums):
            self._sums, self._j = [self.sum_ml] * n, 0

    def rate_lph(self):
        return self.sum_ml * 3600 // (self.s["rate_window_s"] * 1000)

    def flowing(self):
        return self.sum_ml > 0

    def reopened(self, mono_s):
        """The valve has just been re-opened (leak check pass): watch uncontrolled flow."""
        self._reopen_s = mono_s

    def _above(self, ml, lph):
        # ml over the rate window vs a rate in L/h, exact integers (no truncation)
        return ml * 3600 > lph * 1000 * self.s["rate_window_s"] + self._band_x3600

    def _step(self, ml):
        w = len(self._sec)
        self.sum_ml += ml - self._sec[self._i]
        self._sec[self._i] = ml
        self._i = (self._i + 1) % w
        self._sums[self._j] = self.sum_ml
        self._j = (self._j + 1) % len(self._sums)

    def feed(self, now_s, ml, gal=0):
        """now_s: monotonic seconds (board clock mono_s)."""
        s = self.s
        dt = now_s - self._t
        if dt <= 0:
            return []
        self._t = now_s
        # Spread the volume over the elapsed seconds (ticks are 1 s; gaps after a stall).
        n = min(dt, len(self._sums))
        for k in range(n):
            self._step(ml // n + (1 if k < ml % n else 0))
        out = []
        # over_flow: total above the household maximum for a confirmation time
        if self._above(self.sum_ml, s["max_total_lph"]):
            self._over_s += dt
            if self._over_s >= s["over_confirm_s"]:
                out.append(("over_flow", {"flow_lph": self.rate_lph()}))
        else:
            self._over_s = 0
        # flow_surge: rise within the surge window bigger than the largest appliance
        lo = min(self._sums)
        if self._above(self.sum_ml - lo, s["surge_lph"]):
            out.append(("flow_surge", {"flow_lph": self.rate_lph(),
                                       "rise_lph": (self.sum_ml - lo) * 3600 // (s["rate_window_s"] * 1000)}))
        # uncontrolled flow in the first minutes after a re-open (GB SMETS2)
        if self._reopen_s is not None:
            if now_s - self._reopen_s >= s["uncontrolled_s"]:
                self._reopen_s = None
            elif self._above(self.sum_ml, s["uncontrolled_lph"]):
                out.append(("uncontrolled_flow", {"flow_lph": self.rate_lph()}))
        self._long_use(now_s, dt, ml, out)
        # seismic: shut only while gas flows; otherwise only recorded, once per episode
        if gal >= s["seismic_gal"]:
            if self.flowing():
                out.append(("seismic", {"gal": gal}))
            elif not self._quake:
                out.append(("seismic_record", {"gal": gal}))
            self._quake = True
        else:
            self._quake = False
        self._micro(now_s, dt, ml, out)
        return out

    def _long_use(self, now_s, dt, ml, out):
        s = self.s
        if ml == 0:
            self._idle_s += dt
            if self._idle_s >= s["gap_s"]:
                self._run0_s = None
        else:
            self._idle_s = 0
            if self._run0_s is None:
                self._run0_s = now_s - dt
                self._run_ml = 0
                self._min_ml = 0
                self._min_t = self._run0_s
        if self._run0_s is None:
            return
        self._run_ml += ml
        self._min_ml += ml
        if now_s - self._min_t >= 60:
            el = now_s - self._run0_s
            mean = self._run_ml * (now_s - self._min_t) // el   # expected mL this minute
            if abs(self._min_ml - mean) * 100 > s["steady_pct"] * mean:
                # not steady: someone changed the appliance -> a new run from this minute
                self._run0_s = self._min_t
                self._run_ml = self._min_ml
            self._min_ml = 0
            self._min_t = now_s
        el = now_s - self._run0_s
        # mean rate rounded up: a pulse short of the true volume must not pick the longer limit
        lph = -(-self._run_ml * 3600 // (el * 1000)) if el else 0
        limit_min = 0
        for b in s["long_use"]:
            limit_min = b[1]
            if b[0] and lph <= b[0]:
                break
        if el >= limit_min * 60:
            out.append(("long_use", {"flow_lph": lph, "minutes": el // 60, "limit_min": limit_min}))

    def _micro(self, now_s, dt, ml, out):
        self.unquiet_s += dt
        if ml == 0:
            self._quiet_s += dt
            if self._quiet_s >= self.s["quiet_s"]:
                self.unquiet_s = 0
                if self.micro_leak:
                    self.micro_leak = False
                    out.append(("micro_leak_clear", {}))
        else:
            self._quiet_s = 0
        if not self.micro_leak and self.unquiet_s >= self.s["micro_leak_days"] * 86400:
            self.micro_leak = True
            out.append(("micro_leak", {"days": self.unquiet_s // 86400}))


class BatteryGuard:
    """low_voltage: a warning below warn_mv, a valve shutoff below shut_mv, and no re-open
    until recover_mv. Needs battery_confirm consecutive samples (motor load dips)."""

    def __init__(self, s):
        self.s = s
        self.level = "ok"        # ok / warn / shut
        self._n = 0
        self._want = "ok"
        self.mv = None

    def can_open(self):
        """May the valve stay open / be driven open (debounced: a load dip does not flap it)."""
        return self.level != "shut"

    def can_start(self):
        """May a restore start now: debounced level ok and the latest reading above shut_mv."""
        return self.level != "shut" and self.mv is not None and self.mv >= self.s["shut_mv"]

    def feed(self, mv):
        """Returns None or the new level ("ok", "warn", "shut")."""
        s = self.s
        self.mv = mv
        if mv < s["shut_mv"]:
            want = "shut"
        elif self.level == "shut" and mv < s["recover_mv"]:
            want = "shut"          # hysteresis: no re-open until the cell has recovered
        elif mv < s["warn_mv"]:
            want = "warn"
        else:
            want = "ok"
        if want == self.level:
            self._n = 0
            return None
        if want != self._want:
            self._want = want
            self._n = 0
        self._n += 1
        if self._n >= s["battery_confirm"]:
            self.level = want
            self._n = 0
            return want
        return None
