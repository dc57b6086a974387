# Persistent, bounded, ordered event outbox. Every event is on flash before it is sent; it is
# sent in seq order (one in flight, QoS 1) and dropped only after its PUBACK, or shed when
# the outbox is full, by an explicit priority (docs/protocol.md §6):
#   low  - periodic and feedback events: `daily`, `tele`, `sim_rejected`, and `token` events
#          that credit nothing (a keypad entry that was invalid, locked, already used, a sync);
#   high - everything else: billing (recharge, a crediting token, low_balance, supply...)
#          and safety (alarm, alarm_clear...), and any type this table does not name.
# A high event is never shed while a low one is queued. Low events may hold a quarter of
# the outbox; past that, or when the outbox is full, the oldest low one goes first; a new
# low event finding the outbox full of high ones is itself dropped; high events are shed,
# oldest first, only when the whole outbox is full of them (days offline).
#
# The two priorities live in two queues (segment.py, one file each): shedding takes a
# queue's head, O(1) in time and memory, with no rewrite. The merged order is by seq. The
# persisted record "outbox" holds the ack pointer and each queue's last popped seq, saved
# every ACK_EVERY pops and before a rewrite; after a reboot at most that many acked or shed
# events come back (at least once) and the bounds are enforced again.
# Bounds: max_n events, and max_bytes of flash for both files: queued lines may use 7/8 of
# it, the dead prefixes the rest, so a compaction copies at most the live lines once per
# max_bytes/8 appended.
import json
from link.segment import Segment

LOW_TYPES = ("daily", "tele", "sim_rejected")
MAX_EVENT = 1024                # bytes of one event's JSON line (the link's write bound)
ACK_EVERY = 16                  # pointers persisted every N pops and when the queue empties


def is_low(ev):
    t = ev.get("type")
    if t == "token":
        return not ev.get("amount")     # keypad feedback that credited nothing
    return t in LOW_TYPES


class Outbox:
    def __init__(self, root, store, max_n=256, max_bytes=32768):
        self.store = store
        self.max_n = max_n
        self.max_bytes = max_bytes
        self.live_max = max_bytes - max_bytes // 8
        self.low_max_n = max_n // 4       # low-priority entries may use at most a quarter
        self.low_max_bytes = self.live_max // 4
        self.dropped_low = 0
        self.dropped_high = 0
        self.hi = Segment(root + "/outbox.log", max_n)
        self.lo = Segment(root + "/outbox_low.log", self.low_max_n)
        self.path = self.hi.path
        self._buf = bytearray(256)        # compaction copy buffer, allocated once
        self._unsaved = 0
        r = store.load("outbox") or {}
        self.acked_seq = r.get("acked", 0)
        self.last_seq = max(self.acked_seq, r.get("last", 0))
        for seg, k in ((self.hi, "hi"), (self.lo, "lo")):
            top, torn = seg.load(max(self.acked_seq, r.get(k, 0)))
            seg.popped = max(seg.popped, r.get(k, 0))
            self.last_seq = max(self.last_seq, top)
            if torn:
                # a power cut mid-append left a line without its newline: rewrite without it
                # (if that fails too, the next append ends the line first: segment.py)
                try:
                    seg.compact(self._buf)
                except OSError:
                    pass
        # acked or shed events whose pointers were not saved come back after a reboot (at
        # least once): keep the bounds, shedding by the same policy (they are the oldest)
        while len(self.lo) > self.low_max_n or self.lo.live > self.low_max_bytes:
            self._shed(self.lo)
        while len(self) > self.max_n or self._live() > self.live_max:
            self._shed(self.lo if len(self.lo) else self.hi)

    def __len__(self):
        return len(self.hi) + len(self.lo)

    def _live(self):
        return self.hi.live + self.lo.live

    def queued(self):
        """The queued seqs in send order (tests, service console)."""
        a = [self.hi.seq(i) for i in range(len(self.hi))]
        a += [self.lo.seq(i) for i in range(len(self.lo))]
        a.sort()
        return a

    def append(self, ev):
        """Store an event durably. Idempotent by ev["seq"]: an already stored seq is skipped.
        False also when a low-priority event finds the outbox full of high ones."""
        seq = ev["seq"]
        if seq <= self.last_seq:
            return False
        line = json.dumps(ev).encode()
        need = len(line) + 1
        if len(line) > MAX_EVENT or need > self.max_bytes // 4:
            raise ValueError("event too large")
        low = is_low(ev)
        if low:
            lo = self.lo
            while len(lo) and (len(lo) >= self.low_max_n or lo.live + need > self.low_max_bytes):
                self._shed(lo)
        while len(self) >= self.max_n or self._live() + need > self.live_max:
            if len(self.lo):
                self._shed(self.lo)
            elif low:
                self.dropped_low += 1     # never shed billing or safety for it
                self.last_seq = seq
                return False
            else:
                self._shed(self.hi)
        seg = self.lo if low else self.hi
        if self.hi.size + self.lo.size + need > self.max_bytes:
            a, b = (self.hi, self.lo) if self.hi.dead() >= self.lo.dead() else (self.lo, self.hi)
            self._compact(a)
            if self.hi.size + self.lo.size + need > self.max_bytes:
                self._compact(b)
        try:
            seg.append(seq, line)
        except OSError:
            # the segment re-derived its index from the file: the line may be there whole
            if seg.last_seq() != seq:
                raise
        self.last_seq = seq
        return True

    def _shed(self, seg):
        seg.pop()
        if seg is self.lo:
            self.dropped_low += 1
        else:
            self.dropped_high += 1
        self._popped()

    def _head(self):
        a, b = self.hi.head_seq(), self.lo.head_seq()
        if a is None:
            return self.lo if b is not None else None
        return self.hi if b is None or a < b else self.lo

    def head(self):
        """(seq, payload bytes) of the oldest unacknowledged event, or None."""
        seg = self._head()
        if seg is None:
            return None
        return seg.head_seq(), seg.read_head()

    def acked(self, seq):
        """The broker acknowledged the event with this seq (the head)."""
        seg = self._head()
        if seg is None or seg.head_seq() != seq:
            return
        seg.pop()
        self.acked_seq = seq
        if not len(self):
            self._save_ptr()
            self.hi.compact(self._buf)      # both files removed
            self.lo.compact(self._buf)
        else:
            self._popped()
            if seg.dead() > self.max_bytes // 2:
                self._compact(seg)

    def _popped(self):
        self._unsaved += 1
        if self._unsaved >= ACK_EVERY:
            self._save_ptr()

    def retry_save(self):
        """Write the ack pointer again after a failed write (the app's storage_fault retry)."""
        self._save_ptr()

    def _save_ptr(self):
        self.store.save("outbox", {"acked": self.acked_seq, "last": self.last_seq,
                                   "hi": self.hi.popped, "lo": self.lo.popped})
        self._unsaved = 0

    def _compact(self, seg):
        # the pointers first: a cut after the rename never resurrects more than the file held
        self._save_ptr()
        seg.compact(self._buf)
