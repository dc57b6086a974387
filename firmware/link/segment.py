# One queue of the event outbox on flash: an append-only file of JSON lines (one event per
# line) and, in RAM, a ring of (seq, offset, length) for the lines still queued, grown by
# doubling up to its cap (a few times in a meter's life, never by a shed). Taking the head
# (an ack, or shedding the oldest) moves the ring's head: O(1), nothing allocated, nothing
# written. The dead prefix of the file is dropped by compact(), which copies the
# live lines through a fixed buffer into a new file and renames it over the old one (atomic
# on LittleFS and POSIX), so neither RAM nor the work per event grows with the queue.
# A write that fails (OSError: a worn or full flash) may leave the file anywhere between
# before and after it: the index is then re-derived from the file itself (every line with a
# seq above the last popped one), so it never points at bytes other than its lines, and a
# line left without its newline is ended before the next one (a garbage line, skipped).
import json
import os
from array import array

COPY_BUF = 256


RING0 = 16                              # entries before the first growth


def _ring(n, code):
    return array(code, bytearray(n * (2 if code == "H" else 4)))   # zeros, one allocation


class Segment:
    def __init__(self, path, cap):
        self.path = path
        self.max = cap                  # entries at most
        self.cap = min(cap, RING0)      # entries the ring holds now
        self.seqs = _ring(self.cap, "I")
        self.offs = _ring(self.cap, "I")
        self.lens = _ring(self.cap, "H")    # line length without its newline
        self.h = 0                      # ring index of the head
        self.n = 0                      # lines queued
        self.live = 0                   # their bytes, newlines included
        self.size = 0                   # bytes in the file (dead prefix + live)
        self.popped = 0                 # seq of the last line taken off the head
        self.torn = False               # the file ends inside a line (no newline)
        self.stale = False              # the index could not be re-derived yet

    def __len__(self):
        return self.n

    def _at(self, i):
        return (self.h + i) % self.cap

    def head_seq(self):
        return self.seqs[self.h] if self.n else None

    def seq(self, i):
        return self.seqs[self._at(i)]

    def dead(self):
        return self.size - self.live

    def _grow(self):
        cap = min(self.cap * 2, self.max)
        seqs, offs, lens = _ring(cap, "I"), _ring(cap, "I"), _ring(cap, "H")
        for i in range(self.n):
            j = self._at(i)
            seqs[i], offs[i], lens[i] = self.seqs[j], self.offs[j], self.lens[j]
        self.seqs, self.offs, self.lens, self.cap, self.h = seqs, offs, lens, cap, 0

    def _index(self, seq, off, ln):
        if self.n == self.cap:
            if self.cap < self.max:
                self._grow()
            else:
                self.pop()              # only while loading an over-full file: oldest first
        j = self._at(self.n)
        self.seqs[j], self.offs[j], self.lens[j] = seq, off, ln
        self.n += 1
        self.live += ln + 1

    def pop(self):
        """Take the head off the queue (acked or shed); its seq."""
        j = self.h
        self.h = (j + 1) % self.cap
        self.n -= 1
        self.live -= self.lens[j] + 1
        self.popped = self.seqs[j]
        return self.popped

    def load(self, after):
        """Index the file's lines with seq > after, in increasing seq. -> (highest seq seen,
        torn): a line cut by a power cut (no newline) must be rewritten away."""
        self.h = self.n = self.live = self.size = 0
        self.torn = False
        top = after
        torn = False
        try:
            f = open(self.path, "rb")
        except OSError:
            return top, False
        off = 0
        with f:
            while True:
                line = f.readline()
                if not line:
                    break
                n = len(line)
                torn = line[-1:] != b"\n"
                if not torn:
                    try:
                        seq = json.loads(line)["seq"]
                    except Exception:
                        seq = None      # garbage: skipped
                    if isinstance(seq, int) and seq > top:
                        self._index(seq, off, n - 1)
                        top = seq
                off += n
        self.size = off
        self.torn = torn
        return top, torn

    def resync(self):
        """After a failed write: the index from the file as it is (OSError: still stale)."""
        self.stale = True
        popped = self.popped
        self.load(popped)
        self.popped = popped
        self.stale = False

    def _guard(self, fn, *args):
        if self.stale:
            self.resync()
        try:
            return fn(*args)
        except OSError:
            try:
                self.resync()
            except OSError:
                pass                    # stale: retried before the next write or read
            raise

    def append(self, seq, line):
        self._guard(self._append, seq, line)

    def _append(self, seq, line):
        off = self.size + (1 if self.torn else 0)
        with open(self.path, "ab") as f:
            if self.torn:
                f.write(b"\n")         # end a line a failed write left unfinished
            f.write(line)
            f.write(b"\n")
        self.torn = False
        self._index(seq, off, len(line))
        self.size = off + len(line) + 1

    def last_seq(self):
        return self.seqs[self._at(self.n - 1)] if self.n else None

    def read_head(self):
        if self.stale:
            self.resync()
        j = self.h
        with open(self.path, "rb") as f:
            f.seek(self.offs[j])
            return f.read(self.lens[j])

    def compact(self, buf):
        """Rewrite the file with the queued lines only (buf: a bytearray for the copy)."""
        self._guard(self._compact, buf)

    def _compact(self, buf):
        if not self.n:
            try:
                os.remove(self.path)
            except OSError:
                try:
                    os.stat(self.path)
                except OSError:
                    pass                # there was no file: nothing to remove
                else:
                    raise               # still there: re-derived from it (_guard)
            self.h = self.size = 0
            self.torn = False
            return
        tmp = self.path + ".new"
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for i in range(self.n):
                j = self._at(i)
                src.seek(self.offs[j])
                left = self.lens[j] + 1
                while left:
                    k = src.readinto(buf, min(left, len(buf)))
                    if not k:
                        raise OSError(5)    # EIO: the file is shorter than its index
                    dst.write(buf, k)
                    left -= k
        os.rename(tmp, self.path)
        off = 0                         # the index follows the file only once it is renamed
        for i in range(self.n):
            j = self._at(i)
            self.offs[j] = off
            off += self.lens[j] + 1
        self.size = off
        self.torn = False
