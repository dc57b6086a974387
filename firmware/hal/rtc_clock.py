# The clock of an ESP32 board (docs/porting.md "The clock"): the object the app, the drivers
# and the link read time from, with the same methods as the sim board's clock.
#
#   now_s()      wall clock, UTC unix seconds: billing and the calendar. Moved by set_now.
#   mono_s()     monotonic seconds for safety timers: never moved by set_now, NTP or +CCLK,
#                never backwards. mono_s = rtc_s - corr_s, where corr_s is the sum of every
#                correction set_now made, kept in RTC memory: it survives deep sleep and
#                every reset but a power cut. Within a run it counts time.ticks_ms
#                differences (wrap-safe), not the RTC.
#   ticks_ms()   time.ticks_ms; due_ms(t_s) real ms until wall time t_s; advance() no-op.
#   set_now(t_s, signed=True)  the signed `time` op, and network time (signed=False, after
#                net/timesync.py's own rules): ValueError on an implausible value (the rules
#                of boards/sim/simclock.py and docs/protocol.md op time); a step back of up to
#                MAX_BACK_S is absorbed by holding now_s still. A signed step further back is
#                taken only down to signed_s and rewinds the wall clock (docs/porting.md "The
#                clock"). The RTC is set too, so the time survives a reset.
#   ok           synced: set by set_now, kept in RTC memory, false after a power cut.
#   signed_s     the last time a signed `time` op set (the app keeps it in its `clock` record):
#                the true time is never below it, so no signed step goes below it either.
#
# The RTC counts from the port's epoch (time.gmtime(0): 2000 on the ESP32, 1970 on the
# unix port); unix seconds are that plus EPOCH offset.
import struct
import binascii
import time

from core.check import int_in

MIN_PLAUSIBLE_S = 1704067200      # 2024-01-01: earlier is an unset RTC
MAX_PLAUSIBLE_S = 4102444800      # 2100-01-01
MAX_JUMP_S = 86400                # once synced, a correction beyond a day is implausible
MAX_BACK_S = 300
EPOCH_2000_S = 946684800
SLOT = 20                         # RTC memory bytes the clock keeps: magic, corr, ok, crc
_MAGIC = b"CLK1"


class RtcMemory:
    """machine.RTC().memory() shared by the clock (the first SLOT bytes) and a driver (the
    rest, through driver_view()), so neither overwrites the other."""

    def __init__(self, rtc):
        self.rtc = rtc

    def _raw(self):
        try:
            return bytes(self.rtc.memory())
        except (OSError, ValueError):
            return b""

    def load_clock(self):
        """-> (corr_s, ok), or None when absent or corrupt (a power cut clears RTC memory)."""
        raw = self._raw()
        if len(raw) < SLOT or raw[:4] != _MAGIC:
            return None
        body = raw[4:16]
        if binascii.crc32(body) & 0xFFFFFFFF != struct.unpack("<I", raw[16:20])[0]:
            return None
        return struct.unpack("<q", body[:8])[0], body[8] == 1

    def save_clock(self, corr_s, ok):
        raw = self._raw()
        rest = raw[SLOT:] if len(raw) >= SLOT else b""       # the driver's part, kept
        body = struct.pack("<q", corr_s) + bytes([1 if ok else 0]) + b"\x00\x00\x00"
        self.rtc.memory(_MAGIC + body + struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF)
                        + rest)

    def driver_view(self):
        return _DriverView(self)


class _DriverView:
    """Looks like machine.RTC for a driver: memory() / memory(data), 2048 - SLOT bytes."""

    def __init__(self, mem):
        self.mem = mem

    def memory(self, data=None):
        raw = self.mem._raw()
        if data is None:
            return raw[SLOT:]
        head = raw[:SLOT] if len(raw) >= SLOT else b"\x00" * SLOT   # no clock record yet
        self.mem.rtc.memory(head + bytes(data))       # ValueError past 2048 bytes, as the RTC


class RtcClock:
    def __init__(self, floor_s=0, mem=None, rtc=None, tm=time):
        self.tm = tm
        self.mem = mem
        self.rtc = rtc
        self.epoch_s = EPOCH_2000_S if tm.gmtime(0)[0] == 2000 else 0
        rec = mem.load_clock() if mem is not None else None
        self.corr_s, self.ok = rec if rec is not None else (0, False)
        self.signed_s = 0
        rtc_s = int(tm.time()) + self.epoch_s
        held_s = rtc_s
        if rtc_s < floor_s - MAX_BACK_S:
            # an RTC far behind the last saved time (lost at a power cut): restart there
            self._set_rtc(floor_s)
            rtc_s = held_s = floor_s
        elif rtc_s < floor_s:
            held_s = floor_s            # a step back still being absorbed at a reset: hold on
        self._mono0_s = rtc_s - self.corr_s
        self._last_ms = tm.ticks_ms()
        self._acc_ms = 0
        self._held_s = held_s           # the wall clock never reports less than this

    def _set_rtc(self, t_s):
        if self.rtc is None:
            return
        g = self.tm.gmtime(t_s - self.epoch_s)
        # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)
        self.rtc.datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0))

    def _mono_ms(self):
        tm = self.tm
        now = tm.ticks_ms()
        self._acc_ms += tm.ticks_diff(now, self._last_ms)
        self._last_ms = now
        return self._mono0_s * 1000 + self._acc_ms

    def mono_s(self):
        return self._mono_ms() // 1000

    def now_s(self):
        w = self._mono_ms() // 1000 + self.corr_s
        if w < self._held_s:
            return self._held_s          # absorbing a step back (set_now)
        self._held_s = w
        return w

    def ticks_ms(self):
        return self.tm.ticks_ms()

    def sleep_ms(self, ms):
        self.tm.sleep_ms(ms)

    def due_ms(self, t_s):
        wall_ms = self._mono_ms() + self.corr_s * 1000
        if wall_ms < self._held_s * 1000:
            wall_ms = self._held_s * 1000
        return t_s * 1000 - wall_ms

    def advance(self, t_s):
        pass                             # real time needs no stepping

    def set_now(self, t_s, signed=True):
        int_in(t_s, "now")
        if not MIN_PLAUSIBLE_S <= t_s < MAX_PLAUSIBLE_S:
            raise ValueError("implausible time (outside 2024..2100)")
        d = t_s - self.now_s()
        if self.ok and d > MAX_JUMP_S:
            raise ValueError("implausible jump forward of %d s" % d)
        if d < -MAX_BACK_S and not (signed and t_s >= self.signed_s):
            raise ValueError("implausible jump back of %d s" % -d)
        # the wall time now, before the correction: a step back is measured from it
        w_s = self._mono_ms() // 1000 + self.corr_s
        self.corr_s += t_s - w_s
        self.ok = True
        if d > 0 or d < -MAX_BACK_S:
            self._held_s = t_s          # forward, or a signed rewind: no hold
        if signed:
            self.signed_s = t_s
        self._set_rtc(t_s)
        if self.mem is not None:
            self.mem.save_clock(self.corr_s, True)
