# BL0942 single-phase metering IC on UART (4800 8N1), full-packet read.
#
# Frame layout (Shanghai Belling BL0942 datasheet V1.06, "UART read full electrical
# parameter packet"; same layout as ESPHome's bl0942 component): the host sends
# 0x58 0xAA, the IC answers 23 bytes, multi-byte registers little-endian:
#   [0]      0x55 header
#   [1:4]    I_RMS       unsigned 24
#   [4:7]    V_RMS       unsigned 24
#   [7:10]   I_FAST_RMS  unsigned 24
#   [10:13]  WATT        signed 24 (two's complement)
#   [13:16]  CF_CNT      unsigned 24, energy pulse counter, wraps at 2**24
#   [16:19]  FREQ        line period in us (16-bit register, byte 18 is always 0)
#   [19:22]  STATUS
#   [22]     checksum = ~(0x58 + sum(bytes[0:22])) & 0xFF
# Conversions (datasheet section 3, ESPHome defaults for a 1 mOhm shunt and the usual
# 390k*5 : 510R divider): counts per kV, per kA, per kW; energy per CF pulse
# = 419430.4 / (counts per W) W.s.
from micropython import const

from core.check import int_in

READ = const(0x58)
FULL = const(0xAA)
HEAD = const(0x55)
FRAME_LEN = const(23)
REQUEST = b"\x58\xaa"
CF_MOD = const(0x1000000)

# name: (default, lo, hi)
CAL_DEFAULTS = {
    "v_cnt_per_kv": (15873359, 1000000, 100000000),
    "i_cnt_per_ka": (251213465, 10000000, 2000000000),
    "p_cnt_per_kw": (596000, 10000, 10000000),
    "cf_uwh": (195484, 1000, 10000000),       # uWh per CF pulse (419430.4 / 596 W.s)
    "max_w": (26000, 1000, 100000),           # CF jump guard: more than this is an IC reset
}


def checksum(buf, n=22):
    s = READ
    for i in range(n):
        s += buf[i]
    return ~s & 0xFF


def u24(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)


def encode(i_rms, v_rms, i_fast_rms, watt, cf_cnt, period_us=20000, status=0):
    """Build one response frame exactly as the IC sends it (used by the sim IC and tests)."""
    f = bytearray(FRAME_LEN)
    f[0] = HEAD
    for pos, v in ((1, i_rms), (4, v_rms), (7, i_fast_rms), (10, watt & 0xFFFFFF),
                   (13, cf_cnt % CF_MOD), (16, period_us & 0xFFFF), (19, status & 0xFFFFFF)):
        f[pos] = v & 0xFF
        f[pos + 1] = (v >> 8) & 0xFF
        f[pos + 2] = (v >> 16) & 0xFF
    f[22] = checksum(f)
    return bytes(f)


def validate_cal(patch):
    out = {}
    if not isinstance(patch, dict):
        raise ValueError("bl0942: not a dict")
    for k, v in patch.items():
        if k not in CAL_DEFAULTS:
            raise ValueError("bl0942: unknown key %s" % k)
        lo, hi = CAL_DEFAULTS[k][1], CAL_DEFAULTS[k][2]
        int_in(v, "bl0942." + k, lo, hi)
        out[k] = v
    return out


class Sample:
    """One decoded frame in integer engineering units."""
    __slots__ = ("voltage_mv", "current_ma", "power_w", "va", "cf_cnt", "period_us", "status")


class BL0942:
    def __init__(self, uart, cal=None):
        self.uart = uart
        self.cal = {k: v[0] for k, v in CAL_DEFAULTS.items()}
        if cal:
            self.cal.update(validate_cal(cal))
        self._rx = bytearray(256)
        self._n = 0
        self.frames_ok = 0
        self.frames_bad = 0       # a header whose 23 bytes failed the checksum / format
        self.bytes_skipped = 0    # junk before a header (resync)
        self.overruns = 0         # receive buffer full: oldest bytes dropped
        self.cf_jumps = 0         # CF_CNT moved implausibly (IC reset): not billed
        self._cf_last = None

    def request(self):
        self.uart.write(REQUEST)

    def _fill(self):
        n = self.uart.any()
        while n:
            room = len(self._rx) - self._n
            if room == 0:
                # keep the newest bytes: drop the oldest half
                keep = len(self._rx) // 2
                self._rx[0:keep] = self._rx[self._n - keep:self._n]
                self.bytes_skipped += self._n - keep
                self.overruns += 1
                self._n = keep
                room = len(self._rx) - keep
            data = self.uart.read(min(n, room))
            if not data:
                break
            m = len(data)
            self._rx[self._n:self._n + m] = data
            self._n += m
            n = self.uart.any()

    def _drop(self, k):
        self._rx[0:self._n - k] = self._rx[k:self._n]
        self._n -= k

    def frames(self):
        """Parse everything received; return the list of raw good frames (memoryview-free copies)."""
        self._fill()
        out = []
        while True:
            # resync: skip to the next header byte
            i = 0
            while i < self._n and self._rx[i] != HEAD:
                i += 1
            if i:
                self.bytes_skipped += i
                self._drop(i)
            if self._n < FRAME_LEN:
                return out
            b = self._rx
            if b[22] == checksum(b) and b[18] == 0:
                out.append(bytes(b[0:FRAME_LEN]))
                self.frames_ok += 1
                self._drop(FRAME_LEN)
            else:
                # not a frame: count it and retry from the next byte
                self.frames_bad += 1
                self._drop(1)

    def decode(self, f):
        c = self.cal
        s = Sample()
        s.voltage_mv = u24(f, 4) * 1000000 // c["v_cnt_per_kv"]
        s.current_ma = u24(f, 1) * 1000000 // c["i_cnt_per_ka"]
        w = u24(f, 10)
        if w & 0x800000:
            w -= CF_MOD
        s.power_w = (w * 1000 + (c["p_cnt_per_kw"] >> 1)) // c["p_cnt_per_kw"]
        s.va = (s.voltage_mv * s.current_ma + 500000) // 1000000
        s.cf_cnt = u24(f, 13)
        s.period_us = u24(f, 16)
        s.status = u24(f, 19)
        return s

    def energy_uwh(self, cf_cnt, dt_s):
        """uWh since the previous call, from CF_CNT with 24-bit wrap. A jump larger than
        max_w for dt_s (IC reset or corrupted counter) is counted and not billed."""
        last = self._cf_last
        self._cf_last = cf_cnt
        if last is None:
            return 0
        d = (cf_cnt - last) % CF_MOD
        c = self.cal
        limit = (c["max_w"] * max(dt_s, 1) * 1000000 // 3600) // c["cf_uwh"] + 2
        if d > limit:
            self.cf_jumps += 1
            return 0
        return d * c["cf_uwh"]

    def counters(self):
        return {"ok": self.frames_ok, "bad": self.frames_bad, "skipped": self.bytes_skipped,
                "overruns": self.overruns, "cf_jumps": self.cf_jumps}
