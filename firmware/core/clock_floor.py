# The `clock` record (docs/porting.md "The clock"): {"t": the wall time the meter last saved,
# "s": the last time a signed `time` op set}. The board clock restarts at "t" when its RTC
# was lost (a power cut on an ESP32 without a backup cell), so "t" is written while running,
# not only at a clean shutdown: at most every SAVE_S, at once after any step of the clock
# (a held step back then survives a reset, a signed rewind is not undone by an old floor),
# and at the shutdown. "s" lets a signed `time` op step back past an unauthenticated time.
from micropython import const

from core.check import is_int

RECORD = "clock"
# A power cut sets the clock back at most this far. 15 min: at most 96 writes of a ~30-byte
# record a day, the prepay record's own default batch_s (docs/ledger.md flash-wear policy).
SAVE_S = const(900)


def _t(v):
    return v if is_int(v) and v > 0 else 0


class ClockFloor:
    def __init__(self, store):
        self.store = store
        d = store.load(RECORD) or {}
        self.floor_s = _t(d.get("t"))
        s = _t(d.get("s"))
        self.signed_s = s if s <= self.floor_s else 0   # never above the time saved with it
        self.saved_s = self.floor_s     # across deep-sleep wakes: counted from the record
        self.dirty = False

    def attach(self, clock):
        """The board clock takes the last signed time (a clock without it ignores it)."""
        if hasattr(clock, "signed_s"):
            clock.signed_s = self.signed_s
        self.clock = clock

    def maybe_save(self, now_s, force=False):
        """Write when due, after a change of the signed time or a step back, or when forced.
        OSError: kept dirty, retried at the next call (Store.failing names it meanwhile)."""
        s = getattr(self.clock, "signed_s", 0)
        if not (force or self.dirty or s != self.signed_s
                or not 0 <= now_s - self.saved_s < SAVE_S):
            return False
        self.dirty = True
        self.store.save(RECORD, {"t": now_s, "s": s})
        self.dirty = False
        self.saved_s = self.floor_s = now_s
        self.signed_s = s
        return True
