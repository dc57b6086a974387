# Cellular supervisor for a SIMCom SIM7080G-class NB-IoT / LTE-M module on the board's
# UART, serviced once per app loop pass and never blocking (docs/porting.md "Network").
# Commands and answers follow the SIM7070_SIM7080_SIM7090 Series AT Command Manual V1.04 and
# 3GPP TS 27.007; power follows the module's hardware design (PWRKEY pressed >= 1 s powers
# it on, >= 1.2 s powers it off; the optional STATUS pin is high while it runs).
#
#   probe -> [pwrkey -> boot] -> init script (echo off, SIM, RAT, bands, APN, PSM, eDRX,
#   radio on) -> register (+CEREG until home/roaming, before a deadline) -> +CSQ -> +CCLK
#   -> dial (ATD*99#, CONNECT) -> ppp (network.PPP on the same UART) -> up
# A dropped PPP link hangs up (+++ / ATH) and goes back to register; every failure backs
# off (5 s doubling to 10 min) and starts again from probe. A modem that stops answering,
# or three failures in a row, is power-cycled with PWRKEY.
from time import ticks_add, ticks_diff
from micropython import const
from net.at import AtPort
from net import sim7080
from net.cell_call import Call, REG

# PWRKEY low >= 1 s: power on (or wake from PSM); kept under the 1.2 s that would power a
# running module off, so a press never turns off a module that was in fact on
PRESS_ON_MS = const(1100)
PRESS_OFF_MS = const(1500)      # >= 1.2 s: power off
OFF_WAIT_MS = const(3000)       # off -> on: let the module finish its power-down
BOOT_MS = const(15000)          # power-on to first answer to AT
BACKOFF_MS = const(5000)
BACKOFF_MAX_MS = const(600000)
CYCLE_AFTER = const(3)          # consecutive failures before a power cycle


class Cellular(Call):
    KIND = "cellular"
    ALWAYS_UP = False

    def __init__(self, network, uart, pwrkey, opts, ticks_ms, status=None):
        self.nw = network
        self.uart = uart
        self.at = AtPort(uart, ticks_ms)
        self.pwrkey = pwrkey            # Signal-like: value(1) presses the key
        self.status_pin = status        # Signal-like: 1 while the module runs, or None
        self.o = opts
        self.ticks_ms = ticks_ms
        self.ppp = None
        self.state = "off"
        self.up = False
        self.reg = None
        self.csq = None
        self.reason = None
        self.fails = 0
        self.power_cycles = 0
        self.drops = 0
        self.pin_blocked = False        # a wrong PIN is never sent again (3 tries lock the SIM)
        self.configured = False         # the init script ran since the module last started
        self.time_offer = None
        self._t = 0                     # state deadline / next action (ticks)
        self._t0 = 0                    # state start
        self._step = 0
        self._script = None
        self._backoff = BACKOFF_MS
        self._cycle = False
        self._carrier_lost = False
        self._poll_at = 0
        self._then = None
        self._hstep = 0
        pwrkey.value(0)

    def info(self):
        rssi = None if self.csq in (None, 99) else -113 + 2 * self.csq   # TS 27.007 +CSQ
        return {"iface": "cellular", "up": self.up, "rat": self.o["rat"], "reg": self.reg,
                "csq": self.csq, "rssi_dbm": rssi, "reason": self.reason}

    def take_time(self):
        t = self.time_offer
        self.time_offer = None
        return t

    # ---- helpers --------------------------------------------------------------------------
    def _go(self, state, now, ms=0):
        self.state = state
        self._t0 = now
        self._t = ticks_add(now, ms)

    def _due(self, now):
        return ticks_diff(now, self._t) >= 0

    def _fail(self, now, reason):
        self.reason = reason
        self.up = False
        self.fails += 1
        self.at.paused = False
        self.at.cmd = None
        if reason == "no_answer" or self.fails >= CYCLE_AFTER:
            self._cycle = True
            self.configured = False
        d = self._backoff
        self._backoff = min(d * 2, BACKOFF_MAX_MS)
        self._go("backoff", now, d)

    def _running(self):
        return self.status_pin is None or self.status_pin.value()

    # ---- the step --------------------------------------------------------------------------------
    def service(self, want, idle_ms=0):
        now = self.ticks_ms()
        at = self.at
        at.drain()                      # URCs first (no-op while PPP owns the UART)
        for u in at.take_urcs():
            self._urc(u, now)
        st = self.state
        if not want and st not in ("off", "idle", "backoff"):
            if st in ("up", "ppp", "dial"):
                self._hangup(now, then="idle")      # the modem stays registered (PSM next)
            elif st == "hangup":
                self._then = ("idle", None)
                self._hangup_step(now)
            else:
                at.cmd = None
                self._go("idle", now)
        elif st == "off" or (st == "idle" and want):
            if want:
                self._probe(now)
        elif st == "backoff":
            if want and self._due(now):
                if self._cycle:
                    self._cycle = False
                    self.power_cycles += 1
                    if self._running():
                        self.pwrkey.value(1)
                        self._go("pwroff", now, PRESS_OFF_MS)
                        return self.up
                self._probe(now)
        elif st == "pwroff":
            if self._due(now):
                self.pwrkey.value(0)
                self._go("offwait", now, OFF_WAIT_MS)
        elif st == "offwait":
            if self._due(now):
                self._probe(now)            # answers: the press had turned it on; else press
        elif st == "pwrkey":
            if self._due(now):
                self.pwrkey.value(0)
                self._go("boot", now, BOOT_MS)
        elif st in ("probe", "boot"):
            r = at.poll()
            if r is not None and r.ok():
                if self.configured:         # awake again (PSM): still configured, attached
                    self._register_again(now)
                else:
                    self._start_script(now)
            elif not at.busy():
                if st == "probe":
                    self._press_on(now)     # off, or asleep in PSM: PWRKEY powers on / wakes
                elif self._due(now):
                    self._fail(now, "no_answer")
                else:
                    at.send("AT", 900)
        elif st == "init":
            self._run_script(now)
        elif st == "register":
            self._register(now)
        elif st in ("csq", "cclk"):
            self._after_reg(now)
        elif st == "dial":
            r = at.poll()
            if r is not None:
                if r.status == "CONNECT":
                    self._start_ppp(now)
                else:
                    self._fail(now, "no_answer" if r.status == "timeout" else "dial_failed")
        elif st == "ppp":
            if self.ppp.isconnected():
                self.up = True
                self.fails = 0
                self._backoff = BACKOFF_MS
                self.reason = None
                self._go("up", now)
            elif ticks_diff(now, self._t) >= 0:
                self._hangup(now, then="fail", reason="ppp_timeout")
        elif st == "up":
            if not self.ppp.isconnected():
                self.up = False
                self.drops += 1
                self.reason = "ppp_dropped"
                self._hangup(now, then="register")
        elif st == "hangup":
            self._hangup_step(now)
        return self.up

    def _urc(self, u, now):
        if u.startswith("+CEREG:"):             # URC form: +CEREG: <stat>[,<tac>,...]
            try:
                self.reg = REG.get(int(u[7:].split(",")[0]), "unknown")
            except ValueError:
                pass
        elif u == "NO CARRIER":
            self._carrier_lost = True
        elif u in ("NORMAL POWER DOWN", "RDY"):
            self.configured = False     # it restarted: echo on, configuration reloaded
            if self.state not in ("off", "idle", "pwrkey", "boot", "offwait", "probe"):
                self._fail(now, "modem_restarted" if u == "RDY" else "modem_off")
        elif u.startswith("+CPIN:") and "READY" not in u and self.state not in ("init",):
            self._fail(now, "no_sim")

    def _press_on(self, now):
        if self.status_pin is not None and not self.status_pin.value():
            self.configured = False     # it was off: it starts from its defaults
        self.pwrkey.value(1)
        self._go("pwrkey", now, PRESS_ON_MS)

    def _probe(self, now):
        self.at.paused = False
        self.at.cmd = None
        self.at.send("AT", 1000)
        self._go("probe", now)

    def _start_script(self, now):
        self._script = sim7080.script(self)
        self._step = 0
        self._go("init", now)
        c, ms, _ = self._script[0]
        self.at.send(c, ms)

    def insert_next(self, steps):
        """Run these (command, timeout_ms, check) steps right after the current one: a
        check of the init script (net/sim7080.py) adds the steps an answer calls for."""
        for i in range(len(steps)):
            self._script.insert(self._step + 1 + i, steps[i])

    def _run_script(self, now):
        r = self.at.poll()
        if r is None:
            return
        c, ms, check = self._script[self._step]
        if r.status == "timeout":
            return self._fail(now, "no_answer")
        why = check(r, now) if check else (None if r.ok() else "error: " + c[:20])
        if why is not None:
            return self._fail(now, why)
        self._step += 1
        if self._step < len(self._script):
            c, ms, _ = self._script[self._step]
            self.at.send(c, ms)
        else:
            self._script = None
            self.configured = True
            self._register_again(now)

    def close(self):
        if self.ppp is not None:
            try:
                self.ppp.disconnect()
            except OSError:
                pass
        self.up = False
        self.state = "off"
