# The SIM7080G's network side, after the init script (net/cellular.py): registration
# (+CEREG until home or roaming, before reg_timeout_s), signal (+CSQ), network time (+CCLK),
# the data call (ATD*99#, CONNECT, network.PPP on the same UART) and hanging it up (+++ with
# its guard time, ATH). Commands per the SIM7070_SIM7080_SIM7090 Series AT Command Manual
# V1.04 and 3GPP TS 27.007. A base class of Cellular: Cellular's own methods.
from time import ticks_add, ticks_diff
from micropython import const
from net import timesync

REG_POLL_MS = const(2000)
DIAL_MS = const(30000)
PPP_MS = const(30000)
GUARD_MS = const(1100)          # "+++" needs 1 s of silence before and after (V.250)
REG = {0: "none", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


class Call:
    def _register_again(self, now):
        self.reg = "searching"
        self._go("register", now, self.o["reg_timeout_s"] * 1000)
        self.at.send("AT+CEREG?", 2000)

    def _register(self, now):
        at = self.at
        r = at.poll()
        if r is not None:
            if r.status == "timeout":
                return self._fail(now, "no_answer")
            v = r.value("+CEREG")
            if v is not None:
                f = v.split(",")
                try:
                    self.reg = REG.get(int(f[1]), "unknown")
                except (ValueError, IndexError):
                    self.reg = "unknown"
            if self.reg in ("home", "roaming"):
                self.at.send("AT+CSQ", 2000)
                self._go("csq", now)
                return
            if self.reg == "denied":
                return self._fail(now, "denied")
            self._poll_at = ticks_add(now, REG_POLL_MS)
        if self._due(now):
            return self._fail(now, "no_registration")
        if not at.busy() and ticks_diff(now, getattr(self, "_poll_at", now)) >= 0:
            at.send("AT+CEREG?", 2000)

    def _after_reg(self, now):
        r = self.at.poll()
        if r is None:
            return
        if r.status == "timeout":
            return self._fail(now, "no_answer")
        if self.state == "csq":
            v = r.value("+CSQ")
            try:
                self.csq = int(v.split(",")[0])
            except (AttributeError, ValueError):
                self.csq = None
            if self.csq in (None, 99):            # registered but no signal measured yet
                self.reg = "searching"
                self._go("register", now, self.o["reg_timeout_s"] * 1000)
                self._poll_at = ticks_add(now, REG_POLL_MS)
                return
            self.at.send("AT+CCLK?", 2000)
            self.state = "cclk"
            return
        t = timesync.parse_cclk(r.value("+CCLK") or "")
        if t is not None:
            self.time_offer = (t, "cclk")
        self._carrier_lost = False
        self.at.send("ATD*99#", DIAL_MS)
        self._go("dial", now)

    def _start_ppp(self, now):
        self.at.paused = True           # the UART now carries PPP frames
        if self.ppp is None:
            self.ppp = self.nw.PPP(self.uart)
        o = self.o
        try:
            if o.get("user"):
                self.ppp.connect(security=self.nw.PPP.SEC_PAP, user=o["user"],
                                 key=o.get("password") or "")
            else:
                self.ppp.connect()
        except OSError:                 # EALREADY: a previous session was not torn down
            self.ppp.disconnect()
            return self._hangup(now, then="fail", reason="ppp_busy")
        self._go("ppp", now, PPP_MS)

    def _hangup(self, now, then, reason=None):
        if self.ppp is not None and self.ppp.isconnected():
            self.ppp.disconnect()
        self.up = False
        self.at.paused = False
        self.at.cmd = None
        self._then = (then, reason)
        self._hstep = 0
        self._go("hangup", now, GUARD_MS)

    def _hangup_step(self, now):
        at = self.at
        if self._hstep == 0:            # guard time, unless the modem already said NO CARRIER
            if self._carrier_lost or self._due(now):
                if not self._carrier_lost:
                    at.write_raw(b"+++")
                self._hstep = 1
                self._t = ticks_add(now, 0 if self._carrier_lost else GUARD_MS)
            return
        if self._hstep == 1:
            if self._due(now):
                at.send("ATH", 3000)
                self._hstep = 2
            return
        r = at.poll()
        if r is None:
            return
        self._carrier_lost = False
        then, reason = self._then
        if r.status == "timeout":
            return self._fail(now, "no_answer")
        if then == "fail":
            self._fail(now, reason)
        elif then == "idle":
            self._go("idle", now)
        else:
            self._register_again(now)
