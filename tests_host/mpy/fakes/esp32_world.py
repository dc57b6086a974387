# The physical world around an emulated ESP32 board (tests_host/mpy/esp32_emu.py): the
# parts behind the fake machine module, simulated by time. Built from a JSON description:
#   "adc_uv":  {"36": 1800000}                 ADC readings (a 3.6 V cell on a 1:1 divider)
#   "ap":      {"ssid", "key", "rssi", "assoc_ms"}   the Wi-Fi access point in range
#   "modem":   {"uart", "pwrkey", "status", "boot_ms", "reg_ms", "active_ms", "sim", "reg",
#               "dead"}
#   "bl0942":  {"uart", "load_w", "set", "reset"}  a BL0942 behind a latching relay
#   "valve":   {"open", "close", "opened", "closed", "travel_ms"}  motorised valve + end stops
#   "flow":    {"unit", "rate_hz", "after_open_ms"}  pulses while the valve is open
#   "trace":   "file", "trace_pins": [...]      every write to those GPIOs, "ms gpio level"
#   "pull_ups": [35]                            external pull-ups (GPIO34-39 have none inside)
#   "button":  {"gpio", "file"}                 a push button to GND: the test creates `file`
#                                               and the button is pressed (held 100 ms), once
# Nothing here is firmware: it stands for the hardware, like boards/sim does for the sim board.
import time
import machine
import network


_clock = [time.ticks_ms]


def set_clock(ticks_ms):
    """Virtual time for in-process tests (vtime.py); real time by default."""
    _clock[0] = ticks_ms


def _now():
    return _clock[0]()


class Relay:
    """A latching relay: a pulse on SET closes it, a pulse on RESET opens it."""

    def __init__(self, set_gpio, reset_gpio):
        self.closed = False
        machine.watch(set_gpio, lambda v: self._coil(v, True))
        machine.watch(reset_gpio, lambda v: self._coil(v, False))

    def _coil(self, level, closes):
        if level:
            self.closed = closes


class BL0942:
    """The metering IC on its UART: answers 0x58 0xAA with one 23-byte frame (BL0942
    datasheet V1.06, full packet read), the load flowing only while the relay is closed.
    Register scaling: the firmware's defaults (596 counts per W, 1 CF pulse per 0.195 Wh)."""

    def __init__(self, load_w, relay, pf_pct=85):
        self.load_w = load_w
        self.pf_pct = pf_pct                # an appliance with a motor, not a heater
        self.relay = relay
        self.cf = 0
        self.cf_uwh = 0
        self.t = _now()
        self.pending = b""

    def _integrate(self):
        now = _now()
        dt = time.ticks_diff(now, self.t)
        self.t = now
        w = self.load_w if self.relay.closed else 0
        self.cf_uwh += w * dt * 1000 // 3600         # uWh in dt ms
        self.cf += self.cf_uwh // 195484
        self.cf_uwh %= 195484

    def rx(self, data, uart):
        if data == b"\x58\xaa":
            self._integrate()
            w = self.load_w if self.relay.closed else 0
            i_ma = w * 100000 // (230 * self.pf_pct)
            f = bytearray(23)
            f[0] = 0x55
            vals = ((1, i_ma * 251213465 // 1000000), (4, 230 * 15873359 // 1000),
                    (7, i_ma * 251213465 // 1000000), (10, w * 596), (13, self.cf & 0xFFFFFF),
                    (16, 20000), (19, 0))
            for pos, v in vals:
                f[pos], f[pos + 1], f[pos + 2] = v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF
            s = 0x58
            for b in f[:22]:
                s += b
            f[22] = ~s & 0xFF
            uart.feed(bytes(f))

    def poll(self, uart):
        pass


class Valve:
    """A motorised valve: the motor runs while exactly one of its two pins is high; the end
    stops (switches to GND) close within the last 2 % of travel."""

    def __init__(self, d):
        self.o, self.c = d["open"], d["close"]
        self.opened, self.closed = d["opened"], d["closed"]
        self.travel_ms = d.get("travel_ms", 800)
        self.pos = d.get("pos", 0)          # 0 closed .. 1000 open
        self.t = _now()
        self.open_since = None
        for g in (self.o, self.c):
            machine.watch(g, lambda v: self.update())
        for g in (self.opened, self.closed):
            machine.sense(g, self.update)
        self._stops()

    def update(self):
        now = _now()
        dt = time.ticks_diff(now, self.t)
        self.t = now
        o = machine.pin(self.o)["level"]
        c = machine.pin(self.c)["level"]
        step = dt * 1000 // self.travel_ms
        if o and not c:
            self.pos = min(1000, self.pos + step)
        elif c and not o:
            self.pos = max(0, self.pos - step)
        if self.pos >= 980 and self.open_since is None:
            self.open_since = now
        elif self.pos < 980:
            self.open_since = None
        self._stops()

    def _stops(self):
        machine.pin(self.opened)["external"] = 0 if self.pos >= 980 else 1
        machine.pin(self.closed)["external"] = 0 if self.pos <= 20 else 1


class Flow:
    """Pulses into a PCNT unit at rate_hz while the valve has been open after_open_ms."""

    def __init__(self, d, valve):
        self.unit = d.get("unit", 0)
        self.rate_hz = d.get("rate_hz", 10)
        self.after_ms = d.get("after_open_ms", 0)
        self.valve = valve
        self.t = _now()
        self.acc = 0
        machine.sense(("pcnt", self.unit), self.update)

    def update(self):
        v = self.valve
        v.update()
        now = _now()
        dt = time.ticks_diff(now, self.t)
        self.t = now
        if v.open_since is not None and time.ticks_diff(now, v.open_since) >= self.after_ms:
            self.acc += dt * self.rate_hz
            c = machine._world["counters"].get(self.unit)
            if c is not None:
                c.count += self.acc // 1000
            self.acc %= 1000


class Button:
    """A push button to GND, pressed from outside the process: the test creates the file,
    the world presses (the falling edge fires the pin's IRQ), holds it 100 ms, releases,
    and removes the file. Polled whenever the firmware samples the hardware."""

    def __init__(self, d):
        self.gpio = d["gpio"]
        self.file = d.get("file", "press")
        self.down_at = None

    def poll(self):
        import os
        now = _now()
        if self.down_at is None:
            try:
                os.stat(self.file)
            except OSError:
                return
            self.down_at = now
            machine.drive(self.gpio, 0)
        elif time.ticks_diff(now, self.down_at) >= 100:
            machine.drive(self.gpio, None)
            self.down_at = None
            os.remove(self.file)


class World:
    def __init__(self, d):
        self.d = d
        network.reset_world(**(d.get("ap") or {}))
        for g in d.get("pull_ups", ()):
            machine.pin(g)["external"] = 1
        for g, uv in (d.get("adc_uv") or {}).items():
            machine.sense(("adc", int(g)), lambda g=int(g), uv=uv: self._adc(g, uv))
        self.modem = None
        m = d.get("modem")
        if m:
            from sim7080g import SIM7080G
            self.modem = SIM7080G(clock=_clock[0], pwrkey=m.get("pwrkey"), status=m.get("status"),
                                  boot_ms=m.get("boot_ms", 2500), reg_ms=m.get("reg_ms", 4000),
                                  active_ms=m.get("active_ms", 10000))
            self.modem.sim = m.get("sim", "ready")
            self.modem.reg = m.get("reg", "home")
            self.modem.dead = m.get("dead", False)
            machine.attach(m.get("uart", 1), self.modem)
        b = d.get("bl0942")
        if b:
            self.relay = Relay(b["set"], b["reset"])
            machine.attach(b.get("uart", 2), BL0942(b.get("load_w", 0), self.relay,
                                                    b.get("pf_pct", 85)))
        self.valve = Valve(d["valve"]) if d.get("valve") else None
        if d.get("flow") and self.valve:
            Flow(d["flow"], self.valve)
        if d.get("button"):
            machine.every(Button(d["button"]).poll)
        tr = d.get("trace")
        if tr:
            self.trace = open(tr, "a")
            for g in d.get("trace_pins", ()):
                machine.watch(g, lambda v, g=g: self._trace(g, v))

    def _trace(self, g, v):
        self.trace.write("%d %d %d\n" % (_now(), g, v))
        self.trace.flush()

    def _adc(self, g, uv):
        a = machine._world["adcs"].get(g)
        if a is not None:
            a.uv = uv
