# Power-loss-safe records on flash: two slots per record, <name>.a and <name>.b.
#
# A slot file is one header line then the JSON body:
#     PMR1 <seq:10 digits> <body_len:5 digits> <crc32:8 hex>\n<body>
# where the CRC32 runs over the body and then the header text before it
# ("PMR1 <seq> <body_len> "), so a flipped seq or length digit is caught as surely as a
# flipped body byte.
# save() always writes the slot that does NOT hold the newest valid copy, so the
# newest good copy is never touched while a write is in flight; a power cut at any
# instant leaves either the old record (the interrupted slot fails its length/CRC
# check) or the new one. load() returns the body of the valid slot with the highest
# seq. Nothing is ever renamed over a good copy.
#
# Recovery (documented in docs/ledger.md): a slot that is missing, truncated, has a
# bad header, a wrong length, a CRC mismatch or a body that is not a JSON object is
# ignored and its reason is kept in self.reasons[name]; if no slot is valid, load()
# returns None and the caller starts fresh (and logs the reason).
import binascii
import json
import os
from micropython import const

from core.slot_writer import Writer

MAGIC = "PMR1"
MAX_BODY = const(16384)  # a larger header length is garbage, never allocated
_HDR_MAX = const(64)
_HDR_LEN = const(31)  # "PMR1 " + 10-digit seq + " " + 5-digit length + " " + 8 hex + "\n"
_PLACEHOLDER = b"PMRX" + b" " * 26 + b"\n"


def _name_ok(name):
    if not isinstance(name, str) or not 0 < len(name) <= 24:
        return False
    for c in name:
        if not (c.isalpha() or c.isdigit() or c in "_-"):
            return False
    return True


class Store:
    def __init__(self, root):
        if not isinstance(root, str) or not root:
            raise ValueError("store root must be a non-empty str")
        self.root = root.rstrip("/") or "/"
        try:
            os.stat(self.root)
        except OSError:
            os.mkdir(self.root)
        self.bytes_written = 0
        self.writes = 0
        self.reasons = {}  # name -> why the last load() ignored a slot (for the event log)
        # name -> errno of its last write, while that write has not since succeeded: the
        # app raises storage_fault from it and clears it when it empties (docs/ledger.md)
        self.failing = {}
        self._seq = {}  # name -> (newest valid seq, its slot "a"/"b") as last seen
        self._buf = bytearray(512)  # slot CRC reads, and the slot writer's buffer in save()

    def _path(self, name, slot):
        return "%s/%s.%s" % (self.root, name, slot)

    def _check_slot(self, name, slot):
        # -> (seq, None) if the slot's header and CRC are good, else (None, reason).
        # The body is CRC-checked in small chunks, never held whole in RAM.
        try:
            f = open(self._path(name, slot), "rb")
        except OSError:
            return None, "missing"
        try:
            hdr = f.readline(_HDR_MAX)
            if not hdr.endswith(b"\n"):
                return None, "truncated header"
            parts = hdr.split()
            if len(parts) != 4 or parts[0] != MAGIC.encode():
                return None, "bad magic"
            if len(hdr) != _HDR_LEN:
                return None, "bad header"
            try:
                seq = int(parts[1])
                n = int(parts[2])
                crc = int(parts[3], 16)
            except ValueError:
                return None, "bad header"
            if seq < 0 or n < 2 or n > MAX_BODY:
                return None, "bad header"
            buf = self._buf
            c = 0
            left = n
            while left:
                k = f.readinto(buf)
                if not k:
                    return None, "truncated body"
                if k > left:
                    return None, "trailing bytes"
                c = binascii.crc32(memoryview(buf)[:k], c)
                left -= k
            if f.read(1):
                return None, "trailing bytes"
        finally:
            f.close()
        if binascii.crc32(hdr[: _HDR_LEN - 9], c) & 0xFFFFFFFF != crc:
            return None, "crc mismatch"
        return seq, None

    def _parse(self, name, slot):
        with open(self._path(name, slot), "rb") as f:
            f.seek(_HDR_LEN)
            try:
                obj = json.load(f)
            except ValueError:
                return None
        return obj if isinstance(obj, dict) else None

    def load(self, name):
        """Newest valid slot's dict, or None (reason in self.reasons[name])."""
        if not _name_ok(name):
            raise ValueError("bad record name")
        ok = []
        why = []
        for slot in ("a", "b"):
            seq, reason = self._check_slot(name, slot)
            if seq is None:
                if reason != "missing":
                    why.append("%s: %s" % (slot, reason))
            else:
                ok.append((seq, slot))
        ok.sort()
        obj = None
        while ok:
            seq, slot = ok.pop()
            obj = self._parse(name, slot)
            if obj is not None:
                self._seq[name] = (seq, slot)
                break
            why.append("%s: not a JSON object" % slot)
        if why:
            self.reasons[name] = "; ".join(why)
        else:
            self.reasons.pop(name, None)
        if obj is None:
            self._seq[name] = (-1, None)
        return obj

    def save(self, name, obj):
        """Write obj into the slot that does not hold the newest valid copy. OSError (flash
        full or failing): the newest good copy is untouched, and `failing` names the record
        until a later save of it succeeds."""
        if not _name_ok(name):
            raise ValueError("bad record name")
        if not isinstance(obj, dict):
            raise ValueError("record must be a dict")
        try:
            self._save(name, obj)
        except OSError as e:
            self.failing[name] = e.args[0] if e.args else 0
            raise
        self.failing.pop(name, None)

    def _save(self, name, obj):
        if name not in self._seq:
            self.load(name)  # learn which slot is newest; the loaded body is dropped
        seq, slot = self._seq[name]
        target = "b" if slot == "a" else "a"
        # the body goes to the file in a few large writes through a CRC-and-count writer
        # (never the whole text in RAM); the byte length and CRC are known only at the
        # end, so a same-width placeholder header (bad magic) goes first and is
        # overwritten before close: a cut before that leaves this slot invalid and the
        # other one (the newest good copy) untouched
        with open(self._path(name, target), "wb") as f:
            f.write(_PLACEHOLDER)
            w = Writer(f, self._buf)
            w.value(obj, True)
            w.flush()
            n = w.n
            if n > MAX_BODY:
                raise ValueError("record too large")  # slot left invalid; the other is intact
            pre = "%s %010d %05d " % (MAGIC, seq + 1, n)
            hdr = "%s%08x\n" % (pre, binascii.crc32(pre, w.crc) & 0xFFFFFFFF)
            f.seek(0)
            f.write(hdr)
        self._seq[name] = (seq + 1, target)
        self.writes += 1
        self.bytes_written += len(hdr) + n
