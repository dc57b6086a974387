# Simulated electricity-meter board: faithful fakes of the parts the driver uses.
#  - meter_uart: a UART with a BL0942 behind it. Frames are real BL0942 frames (bl0942.encode)
#    computed from the simulated world at each sample instant; CF_CNT accumulates energy.
#  - relay_set / relay_reset: coil Pins driving a simulated latching relay whose contacts
#    move only after a pulse of at least MIN_PULSE_MS (and stay put if welded).
#  - sleep_ms / ticks_ms: a millisecond counter the coil pulses are timed against.
# The world: a load (load_w, pf) plus any number of appliance signatures (tools/loadsig.py),
# behind the relay; the supply voltage_v is measured whatever the relay does (the IC's
# voltage divider is on the supply side). Measured power is zero while the contacts are open.
import meters.electricity.bl0942 as bl0942
from simparts import PhysClock

MIN_PULSE_MS = 20        # latching relays need ~10-30 ms of coil current to flip
RX_CAP = 256             # ESP32 UART driver default RX ring buffer


class SimPin:
    def __init__(self, on_change=None, v=0):
        self._v = v
        self._cb = on_change

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self._v = v
            if self._cb:
                self._cb(self, v)


class World:
    def __init__(self, board, cal):
        self.b = board
        self.cal = cal
        self.load_w = 0.0
        self.pf = 1.0
        self.voltage_v = 230.0
        self.appliances = []        # tools/loadsig.Appliance-like: at(t_ms) -> (p_w, n_var)
        self.closed = False         # relay contacts
        self.welded = False         # contacts stuck closed whatever the coils do
        self.t_ms = None
        self._acc = 0               # energy not yet a CF pulse, in 0.1 mJ
        self.cf_cnt = 0
        self.energy_wh = 0         # ground truth delivered energy (for tests)

    def demand(self, t_ms):
        """(p_w, n_var) plugged in behind the relay at t_ms."""
        p = self.load_w
        n = bl0942_n(p, self.pf)
        for a in self.appliances:
            ap, an = a.at(t_ms)
            p += ap
            n += an
        return p, n

    def measured(self, t_ms):
        """(p_w, s_va) flowing through the shunt."""
        if not (self.closed or self.welded) or self.voltage_v <= 0:
            return 0, 0
        p, n = self.demand(t_ms)
        return p, (p * p + n * n) ** 0.5

    def advance(self, t_ms):
        if self.t_ms is None:
            self.t_ms = t_ms
            return
        step = 250
        while self.t_ms < t_ms:
            dt = min(step if self.appliances else t_ms - self.t_ms, t_ms - self.t_ms)
            p, _ = self.measured(self.t_ms)
            e = int(p * dt * 10 + 0.5)           # W * ms * 10 = 0.1 mJ
            self._acc += e
            self.energy_wh += p * dt / 3600000.0
            per = self.cal["cf_uwh"] * 36        # 1 uWh = 3.6 mJ = 36 * 0.1 mJ
            if self._acc >= per:
                self.cf_cnt = (self.cf_cnt + self._acc // per) % bl0942.CF_MOD
                self._acc %= per
            self.t_ms += dt

    def frame(self, t_ms):
        p, s = self.measured(t_ms)
        v = self.voltage_v if self.voltage_v > 0 else 0
        i = s / v if v else 0
        c = self.cal
        return bl0942.encode(int(i * c["i_cnt_per_ka"] / 1000 + 0.5),
                             int(v * c["v_cnt_per_kv"] / 1000 + 0.5),
                             int(i * c["i_cnt_per_ka"] / 1000 + 0.5),
                             int(p * c["p_cnt_per_kw"] / 1000 + 0.5),
                             self.cf_cnt)


def bl0942_n(p, pf):
    return p * (1.0 / (pf * pf) - 1.0) ** 0.5 if 0 < pf < 1 else 0.0


class SimUART:
    """The BL0942 end of the wire. poll_ms > 0: the board's timer sends the read command
    every poll_ms (frames queue in the RX buffer); 0: only an explicit write() asks."""

    def __init__(self, board, world, poll_ms):
        self.b = board
        self.w = world
        self.poll_ms = poll_ms
        self._rx = bytearray()
        self._last_ms = None
        self.junk = b""             # test hook: bytes to inject before the next frame
        self.corrupt_next = 0       # test hook: flip a bit in the next k frames
        self.writes = []

    def _push(self, t_ms):
        self.w.advance(t_ms)
        f = self.w.frame(t_ms)
        if self.corrupt_next:
            self.corrupt_next -= 1
            f = bytearray(f)
            f[5] ^= 0x10
        data = self.junk + f
        self.junk = b""
        room = RX_CAP - len(self._rx)
        self._rx += data[:room]     # a full hardware ring buffer drops new bytes

    def _service(self):
        now_ms = self.b.phys.now_s() * 1000
        if self.poll_ms <= 0:
            self.w.advance(now_ms)
            return
        if self._last_ms is None:
            self._last_ms = now_ms - self.poll_ms
        if now_ms - self._last_ms > 12 * self.poll_ms:
            # the buffer holds at most ~11 frames: integrate the gap without building frames
            self.w.advance(now_ms - 11 * self.poll_ms)
            self._last_ms = now_ms - 11 * self.poll_ms
        t = self._last_ms + self.poll_ms
        while t <= now_ms:
            self._push(t)
            t += self.poll_ms
        self._last_ms = t - self.poll_ms

    def write(self, buf):
        self.writes.append(bytes(buf))
        if self.poll_ms <= 0 and bytes(buf) == bl0942.REQUEST:
            self._push(self.b.phys.now_s() * 1000)
        return len(buf)

    def any(self):
        self._service()
        return len(self._rx)

    def read(self, n=-1):
        self._service()
        if not self._rx:
            return None
        if n < 0 or n > len(self._rx):
            n = len(self._rx)
        out = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return out


_SIM_RANGES = {"load_w": (0, 100000), "pf": (0.05, 1.0), "voltage_v": (0, 400)}


class SimBoard:
    def __init__(self, cfg, clock):
        self.clock = clock
        self.phys = PhysClock(clock)   # the world's time: a wall-clock change makes no energy
        cal = {k: v[0] for k, v in bl0942.CAL_DEFAULTS.items()}
        cal.update(bl0942.validate_cal((cfg or {}).get("bl0942", {})))
        self.world = World(self, cal)
        self._extra_ms = 0
        self._coil_on_ms = {}
        self.coil_conflicts = 0
        self.relay_set = SimPin(self._coil)
        self.relay_reset = SimPin(self._coil)
        self.meter_poll_ms = 250
        self.meter_uart = SimUART(self, self.world, self.meter_poll_ms)
        self.button = SimPin()
        self.led = SimPin()

    def take_press(self):
        # a sim press comes on the sim topic and reaches the driver's button() directly
        # (app.py _sim); this board has no button of its own to latch
        return False

    def reset_cause(self):
        return "power_on"            # a sim meter always starts cold (board.reset_cause)

    # time for coil pulses
    def ticks_ms(self):
        return self.phys.now_s() * 1000 + self._extra_ms

    def sleep_ms(self, ms):
        self._extra_ms += ms

    def _coil(self, pin, v):
        other = self.relay_reset if pin is self.relay_set else self.relay_set
        if v:
            if other.value():
                self.coil_conflicts += 1
            self._coil_on_ms[id(pin)] = self.ticks_ms()
            return
        t0 = self._coil_on_ms.pop(id(pin), None)
        if t0 is not None and self.ticks_ms() - t0 >= MIN_PULSE_MS:
            self.world.advance(self.phys.now_s() * 1000)   # energy so far at the old position
            self.world.closed = pin is self.relay_set

    def sim(self, msg):
        """<root>/<id>/sim fields: {"load_w", "pf", "voltage_v"} (validated all, then applied)."""
        if not isinstance(msg, dict) or not msg:
            raise ValueError("sim: expected a non-empty object")
        for k, v in msg.items():
            if k not in _SIM_RANGES:
                raise ValueError("sim: unknown field %s" % k)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError("sim: %s must be a number" % k)
            lo, hi = _SIM_RANGES[k]
            if not lo <= v <= hi:        # also rejects nan
                raise ValueError("sim: %s out of range %s..%s" % (k, lo, hi))
        self.world.advance(self.phys.now_s() * 1000)
        for k, v in msg.items():
            setattr(self.world, k, float(v))
