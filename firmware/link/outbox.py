# Persistent, bounded, ordered event outbox (issue 3). Every event is on flash before it is
# sent; it is sent in order (one in flight, QoS 1) and dropped only after its PUBACK.
# Flash layout, bounded writes: one append-only segment "outbox.log" (one JSON event per
# line) and a persisted ack pointer (store record "outbox": {"acked": seq}). The segment is
# rewritten without acknowledged lines only when it is empty or mostly acknowledged.
# RAM holds an index of (seq, offset, length|low flag) in arrays, never the events. An ack
# moves a head index (self._h); the arrays are rebuilt only when the segment is rewritten
# (rebuilding them on every ack fragmented a 64 KiB heap into MemoryError, OUTBOX_N=3000).
import json
import os
from array import array

LOW_TYPES = ("daily", "tele")   # periodic: shed first (issue 3: never before billing/safety)
LOW_BIT = 0x8000
ACK_EVERY = 16                  # ack pointer persisted every N acks and when the queue empties


class Outbox:
    def __init__(self, root, store, max_n=256, max_bytes=32768):
        self.path = root + "/outbox.log"
        self.store = store
        self.max_n = max_n
        self.max_bytes = max_bytes
        self.low_max = max_n // 4        # low-priority entries may use at most a quarter
        self.dropped_low = 0
        self.dropped_high = 0
        self._unsaved_acks = 0
        r = store.load("outbox") or {}
        self.acked_seq = r.get("acked", 0)
        self.last_seq = self.acked_seq
        self._load()

    def _load(self):
        self.seqs = array("I")
        self.offs = array("I")
        self.lens = array("H")
        self._h = 0
        self.size = 0
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        off = 0
        torn = False
        with f:
            while True:
                line = f.readline()
                if not line:
                    break
                n = len(line)
                torn = line[-1:] != b"\n"
                if not torn:
                    try:
                        ev = json.loads(line)
                        seq = ev["seq"]
                    except Exception:
                        seq = None      # a torn last line from a power cut: ignored
                    if isinstance(seq, int) and seq > self.acked_seq and seq > self.last_seq:
                        self._index(seq, off, n - 1, ev.get("type") in LOW_TYPES)
                off += n
        self.size = off
        if torn:
            # a power cut mid-append left a line without its newline: the next append would
            # be glued onto it and lost at the next boot, so rewrite the segment without it
            self._rewrite(range(len(self.seqs)))
        # acked events whose pointer was not yet saved come back after a reboot (at least once):
        # keep the bound, shedding by the same policy (they are the oldest)
        while len(self) > self.max_n or self.size > self.max_bytes:
            if not self._drop(True):
                self._drop(False)

    def _index(self, seq, off, n, low):
        self.seqs.append(seq)
        self.offs.append(off)
        self.lens.append(n | (LOW_BIT if low else 0))
        self.last_seq = seq

    def __len__(self):
        return len(self.seqs) - self._h

    def queued(self):
        """The queued seqs, oldest first (tests, service console)."""
        return [self.seqs[i] for i in range(self._h, len(self.seqs))]

    def _count_low(self):
        n = 0
        for i in range(self._h, len(self.lens)):
            if self.lens[i] & LOW_BIT:
                n += 1
        return n

    def append(self, ev):
        """Store an event durably. Idempotent by ev["seq"]: an already stored seq is skipped."""
        seq = ev["seq"]
        if seq <= self.last_seq:
            return False
        low = ev.get("type") in LOW_TYPES
        line = json.dumps(ev).encode()
        if len(line) >= LOW_BIT or len(line) > self.max_bytes // 4:
            raise ValueError("event too large")
        if low and self._count_low() >= self.low_max:
            self._drop(True)
        if len(self) >= self.max_n or self.size + len(line) + 1 > self.max_bytes:
            self._compact()
            while len(self) and (len(self) >= self.max_n or self.size + len(line) + 1 > self.max_bytes):
                if not self._drop(True):
                    self._drop(False)
        with open(self.path, "ab") as f:
            f.write(line + b"\n")
        self._index(seq, self.size, len(line), low)
        self.size += len(line) + 1
        return True

    def _drop(self, low):
        # shed the oldest low-priority entry (or, when only billing/safety ones are left and
        # the outbox is full, the oldest of those); rewrite the segment so it stays dropped
        for i in range(self._h, len(self.seqs)):
            if bool(self.lens[i] & LOW_BIT) == low:
                keep = [j for j in range(self._h, len(self.seqs)) if j != i]
                if low:
                    self.dropped_low += 1
                else:
                    self.dropped_high += 1
                self._rewrite(keep)
                return True
        return False

    def head(self):
        """(seq, payload bytes) of the oldest unacknowledged event, or None."""
        h = self._h
        if h >= len(self.seqs):
            return None
        n = self.lens[h] & ~LOW_BIT
        with open(self.path, "rb") as f:
            f.seek(self.offs[h])
            return self.seqs[h], f.read(n)

    def acked(self, seq):
        """The broker acknowledged the event with this seq (the head)."""
        if not len(self) or self.seqs[self._h] != seq:
            return
        self._h += 1
        self.acked_seq = seq
        self._unsaved_acks += 1
        if not len(self):
            self._rewrite([])
        elif self._unsaved_acks >= ACK_EVERY:
            self._save_ptr()
            if self.offs[self._h] > self.max_bytes // 2:
                self._compact()

    def retry_save(self):
        """Write the ack pointer again after a failed write (the app's storage_fault retry)."""
        self._save_ptr()

    def _save_ptr(self):
        self.store.save("outbox", {"acked": self.acked_seq})
        self._unsaved_acks = 0

    def _compact(self):
        if len(self) and self.offs[self._h]:
            self._rewrite(range(self._h, len(self.seqs)))

    def _rewrite(self, keep):
        # write the kept lines to a new file, then rename over the old one (atomic on
        # LittleFS and POSIX); the ack pointer is saved first so a cut never resurrects more
        # than what the segment already held
        self._save_ptr()
        if not keep:
            try:
                os.remove(self.path)
            except OSError:
                pass
            self.seqs, self.offs, self.lens, self.size = array("I"), array("I"), array("H"), 0
            self._h = 0
            return
        tmp = self.path + ".new"
        seqs, offs, lens = array("I"), array("I"), array("H")
        off = 0
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for i in keep:
                n = self.lens[i] & ~LOW_BIT
                src.seek(self.offs[i])
                dst.write(src.read(n + 1))
                seqs.append(self.seqs[i])
                offs.append(off)
                lens.append(self.lens[i])
                off += n + 1
        os.rename(tmp, self.path)
        self.seqs, self.offs, self.lens, self.size = seqs, offs, lens, off
        self._h = 0
