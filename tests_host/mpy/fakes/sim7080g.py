# Test-only fake of a SIMCom SIM7080G NB-IoT / LTE-M module behind an ESP32 UART
# (attach it with machine.attach(uart_id, modem)). It answers the AT commands the firmware
# uses the way the SIM7070_SIM7080_SIM7090 Series AT Command Manual V1.04 describes them and
# 3GPP TS 27.007 defines them: echo until ATE0, final result codes on their own line
# ("\r\nOK\r\n", "\r\nERROR\r\n", "\r\n+CME ERROR: <n>\r\n" with AT+CMEE=1), information
# responses before the final code, unsolicited result codes (+CEREG, +CPIN, RDY,
# NORMAL POWER DOWN, NO CARRIER) interleaved at any time, and the data mode of ATD*99#
# ("CONNECT", then PPP until the carrier drops with "NO CARRIER").
# Power follows the PWRKEY pin like the module's hardware design: a press of >= 1 s powers
# an off module on (it answers AT after boot_ms), a press of >= 1.2 s powers an on module
# off; the STATUS pin is high while on.
# Failure modes (test side): sim = "absent" | "pin" | "puk", reg = "home" | "roaming" |
# "denied" | "never", lose_signal()/regain_signal(), drop_ppp(), hang() (no answer until a
# power cycle), nitz (network time offset, or None).
# PSM: with AT+CPSMS=1 the module stops answering `active_ms` (T3324) after its last
# command while registered and not in a data call; a PWRKEY press wakes it.
import time
import machine

CME_SIM_NOT_INSERTED = 10      # 3GPP TS 27.007 9.2.1
CME_INCORRECT_PASSWORD = 16
CME_SIM_PUK_REQUIRED = 12
CME_INCORRECT_PARAMETERS = 50
PRESS_ON_MS = 1000
PRESS_OFF_MS = 1200


class SIM7080G:
    def __init__(self, clock=time.ticks_ms, pwrkey=None, status=None, pwrkey_active=1,
                 boot_ms=2500, reg_ms=4000, lcp_ms=200, active_ms=10000):
        self.clock = clock
        self.boot_ms = boot_ms
        self.reg_ms = reg_ms
        self.lcp_ms = lcp_ms
        self.active_ms = active_ms
        self.psm_sleeps = 0
        self.pwrkey_active = pwrkey_active
        self.status_gpio = status
        self.on = False
        self.t_ready = None
        self.t_press = None
        self.hung = False
        self.dead = False           # never answers, whatever PWRKEY does (a failed module)
        self.sim = "ready"
        self.pin = "1234"
        self.pin_tries = 3
        self.reg = "home"
        self.signal = True
        self.csq = 20
        self.nitz = 0               # network time minus host time; None: no NITZ received
        self.carrier = False
        self.data_mode = False
        self.commands = []          # every command line received while answering
        self.power_ons = 0
        self.power_offs = 0
        self.uart = None
        self._reset_state()
        if pwrkey is not None:
            machine.watch(pwrkey, self._pwrkey)
        self._status()

    def _reset_state(self):
        self.echo = True
        self.cmee = 0
        self.cfun = 1
        self.cereg_n = 0
        self.t_cfun = None
        self.pin_ok = False
        self.cfg = {}
        self.line = bytearray()
        self.out = []               # (due ms, bytes): answers queued for the UART
        self.last_stat = 0
        self.asleep = False
        self.t_active = self.clock()

    # ---- power (PWRKEY / STATUS) ------------------------------------------------------
    def _status(self):
        if self.status_gpio is not None:
            machine.drive(self.status_gpio, 1 if self.on else 0)

    def _pwrkey(self, level):
        now = self.clock()
        pressed = level == self.pwrkey_active
        if pressed and self.t_press is None:
            self.t_press = now
        elif not pressed and self.t_press is not None:
            held = time.ticks_diff(now, self.t_press)
            self.t_press = None
            if self.on and self.asleep:
                self.asleep = False             # PSM wake: answers again at once
                self.t_active = now
                return
            if not self.on and held >= PRESS_ON_MS:
                self.power_on()
            elif self.on and held >= PRESS_OFF_MS:
                self._say(b"\r\nNORMAL POWER DOWN\r\n")
                self.power_off()

    def power_on(self):
        self.on = True
        self.hung = False
        self.power_ons += 1
        self._reset_state()
        self.t_ready = time.ticks_add(self.clock(), self.boot_ms)
        self.carrier = self.data_mode = False
        self.out.append((self.t_ready, b"\r\nRDY\r\n"))
        self._status()

    def power_off(self):
        self.on = False
        self.power_offs += 1
        self.carrier = self.data_mode = False
        self.t_cfun = None
        self._status()

    def _ready(self):
        if not self.on or self.hung or self.dead or time.ticks_diff(self.clock(), self.t_ready) < 0:
            return False
        if (not self.asleep and self.cfg.get("psm") and not self.data_mode
                and self.stat() in (1, 5)
                and time.ticks_diff(self.clock(), self.t_active) >= self.active_ms):
            self.asleep = True
            self.psm_sleeps += 1
        return not self.asleep

    # ---- failure modes (test side) --------------------------------------------------------
    def hang(self):
        self.hung = True

    def lose_signal(self):
        self.signal = False
        self._drop_carrier()

    def regain_signal(self):
        self.signal = True
        if self.t_cfun is not None:
            self.t_cfun = self.clock()      # a fresh search

    def drop_ppp(self):
        self._drop_carrier()

    def _drop_carrier(self):
        if self.carrier:
            self.carrier = False
            self.data_mode = False
            self.t_active = self.clock()
            self._say(b"\r\nNO CARRIER\r\n")

    def ppp_closed(self):
        # LCP terminate from the host's PPP: the module hangs up and returns to command mode
        if self.carrier:
            self.carrier = False
            self.data_mode = False
            self.t_active = self.clock()
            self._say(b"\r\nNO CARRIER\r\n")

    # ---- network model -------------------------------------------------------------------
    def stat(self):
        """+CEREG <stat>: 0 not searching, 1 home, 2 searching, 3 denied, 5 roaming."""
        if not self.on or self.cfun != 1 or self.t_cfun is None or not self.pin_ok:
            return 0
        if not self.signal:
            return 2
        if time.ticks_diff(self.clock(), self.t_cfun) < self.reg_ms:
            return 2
        return {"home": 1, "roaming": 5, "denied": 3, "never": 2}[self.reg]

    def _urc_cereg(self):
        s = self.stat()
        if s != self.last_stat:
            self.last_stat = s
            if self.cereg_n:
                self._say(b"\r\n+CEREG: %d\r\n" % s)

    # ---- UART side -------------------------------------------------------------------------
    def _say(self, data, delay_ms=0):
        self.out.append((time.ticks_add(self.clock(), delay_ms), data))

    def poll(self, uart):
        self.uart = uart
        if self._ready():
            self._urc_cereg()
        now = self.clock()
        keep = []
        for due, data in self.out:
            if time.ticks_diff(now, due) >= 0 and self.on and not self.hung and not self.asleep:
                uart.feed(data)
            elif self.on:
                keep.append((due, data))
        self.out = keep

    def rx(self, data, uart):
        self.uart = uart
        if not self._ready():
            return                   # off, booting or hung: bytes are lost
        if self.data_mode:
            if data == b"+++":
                self.data_mode = False          # escape; the call stays up (ATH ends it)
                self._say(b"\r\nOK\r\n", 1000)  # after the guard time
            return                    # PPP frames: carried by the (simulated) network
        for b in data:
            if b == 13:
                cmd = bytes(self.line).decode()
                self.line = bytearray()
                if self.echo:
                    self._say(cmd.encode() + b"\r")
                self.t_active = self.clock()
                if cmd.strip():
                    self.commands.append(cmd.strip())
                    if len(self.commands) > 300:
                        del self.commands[:100]
                    self._answer(cmd.strip())
            elif b != 10:
                self.line.append(b)

    def _ok(self, *lines):
        out = b""
        for l in lines:
            out += b"\r\n" + l.encode() + b"\r\n"
        self._say(out + b"\r\nOK\r\n")

    def _err(self, cme):
        if self.cmee:
            self._say(b"\r\n+CME ERROR: %d\r\n" % cme)
        else:
            self._say(b"\r\nERROR\r\n")

    def _answer(self, cmd):
        u = cmd.upper()
        if u == "AT":
            return self._ok()
        if u in ("ATE0", "ATE1"):
            self.echo = u == "ATE1"
            return self._ok()
        if u.startswith("AT+CMEE="):
            self.cmee = int(u[8:])
            return self._ok()
        if u == "AT+CPIN?":
            if self.sim == "absent":
                return self._err(CME_SIM_NOT_INSERTED)
            if self.sim == "puk":
                return self._ok("+CPIN: SIM PUK")
            if self.sim == "pin" and not self.pin_ok:
                return self._ok("+CPIN: SIM PIN")
            self.pin_ok = True
            return self._ok("+CPIN: READY")
        if u.startswith("AT+CPIN="):
            code = cmd[8:].strip('"')
            if self.sim != "pin" or self.pin_ok:
                return self._err(3)          # operation not allowed
            if code == self.pin:
                self.pin_ok = True
                self.pin_tries = 3
                self._ok()
                return self._say(b"\r\n+CPIN: READY\r\n", 50)
            self.pin_tries -= 1
            if self.pin_tries <= 0:
                self.sim = "puk"
            return self._err(CME_INCORRECT_PASSWORD)
        if u.startswith("AT+CFUN="):
            v = int(u[8:].split(",")[0])
            if v not in (0, 1, 4):
                return self._err(CME_INCORRECT_PARAMETERS)
            self.cfun = v
            self.t_cfun = self.clock() if v == 1 else None
            return self._ok()
        if u == "AT+CFUN?":
            return self._ok("+CFUN: %d" % self.cfun)
        for key, allowed in (("AT+CNMP=", ("2", "13", "38", "51")), ("AT+CMNB=", ("1", "2", "3"))):
            if u.startswith(key):
                if u[len(key):] not in allowed:
                    return self._err(CME_INCORRECT_PARAMETERS)
                self.cfg[key] = u[len(key):]
                return self._ok()
        if u.startswith("AT+CBANDCFG="):
            mode, _, bands = cmd[12:].partition(",")
            if mode not in ('"NB-IOT"', '"CAT-M"') or not bands:
                return self._err(CME_INCORRECT_PARAMETERS)
            self.cfg[mode] = bands
            return self._ok()
        if u.startswith("AT+CGDCONT="):
            parts = cmd[11:].split(",")
            if len(parts) < 3 or parts[0] != "1" or parts[1] != '"IP"':
                return self._err(CME_INCORRECT_PARAMETERS)
            self.cfg["apn"] = parts[2].strip('"')
            return self._ok()
        if u.startswith("AT+CPSMS="):
            args = cmd[9:].split(",")
            if args[0] == "0":
                self.cfg["psm"] = None
                return self._ok()
            t = [a.strip('"') for a in args[3:5]]
            if args[0] != "1" or len(t) != 2 or [x for x in t if len(x) != 8 or x.strip("01")]:
                return self._err(CME_INCORRECT_PARAMETERS)
            self.cfg["psm"] = t
            return self._ok()
        if u.startswith("AT+CEDRXS="):
            args = cmd[10:].split(",")
            if args[0] == "0":
                self.cfg["edrx"] = None
                return self._ok()
            v = args[2].strip('"') if len(args) > 2 else ""
            if args[0] not in ("1", "2") or args[1] not in ("4", "5") or len(v) != 4 or v.strip("01"):
                return self._err(CME_INCORRECT_PARAMETERS)
            self.cfg["edrx"] = (args[1], v)
            return self._ok()
        if u.startswith("AT+CEREG="):
            self.cereg_n = int(u[9:])
            return self._ok()
        if u == "AT+CEREG?":
            s = self.stat()
            self.last_stat = s
            if self.cereg_n >= 2 and s in (1, 5):
                return self._ok('+CEREG: %d,%d,"1A2B","01A2B3C4",9' % (self.cereg_n, s))
            return self._ok("+CEREG: %d,%d" % (self.cereg_n, s))
        if u == "AT+CSQ":
            rssi = self.csq if self.signal and self.stat() in (1, 5) else 99
            return self._ok("+CSQ: %d,99" % rssi)
        if u == "AT+CCLK?":
            if self.nitz is None or self.stat() not in (1, 5):
                return self._ok('+CCLK: "80/01/06,00:00:00+00"')     # the module's default
            t = int(time.time()) + self.nitz + 2 * 3600     # local time, zone +08 (2 h)
            g = time.gmtime(t)
            return self._ok('+CCLK: "%02d/%02d/%02d,%02d:%02d:%02d+08"' % (
                g[0] % 100, g[1], g[2], g[3], g[4], g[5]))
        if u in ("ATD*99#", "ATD*99***1#", 'AT+CGDATA="PPP",1'):
            if self.stat() not in (1, 5):
                return self._say(b"\r\nNO CARRIER\r\n")
            self.carrier = self.data_mode = True
            return self._say(b"\r\nCONNECT 150000000\r\n")
        if u == "ATH":
            self.carrier = self.data_mode = False
            self.t_active = self.clock()
            return self._ok()
        if u.startswith("AT+CLTS="):
            return self._ok() if u[8:] in ("0", "1") else self._err(CME_INCORRECT_PARAMETERS)
        if u == "AT+CPOWD=1":
            self._say(b"\r\nNORMAL POWER DOWN\r\n")
            self.poll(self.uart)
            return self.power_off()
        if u == "AT+CGSN":
            return self._ok("869951030000017")
        if u == "AT+CCID":
            return self._ok("89882280666027595366")
        return self._say(b"\r\nERROR\r\n")
