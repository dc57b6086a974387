# The body writer of core/store.py's save(): JSON in a few large writes, with its byte count
# and CRC32. Its own module so that each compiles in a small heap on the unix port.
import binascii
import io
import json
from micropython import const

_OUT = const(512)  # bytes gathered before one file write
_SPLIT = const(8)  # a longer list goes out in slices of this many items
_SEP = (",", ":")


class Writer(io.IOBase):
    # Writes JSON to the file in a few large writes, keeping the byte count and CRC32.
    # Why not json.dump(obj, stream): it calls stream.write() once per token, a Python
    # call each: ~3.5 ms for a 3.6 KB record on the unix port. Why not one json.dumps():
    # a 16 KiB record as one str may not fit a fragmented 64 KiB heap. So the record is
    # written key by key, a long list (pending events, the txn ring) in slices of _SPLIT
    # items, each piece by json.dumps() (docs/ledger.md, "Save path").
    def __init__(self, f, buf=None):
        self.f = f
        # the Store lends its own buffer: a fresh one per save needs a free contiguous
        # _OUT bytes at every save, the first allocation to fail in a fragmented heap
        self.b = bytearray(_OUT) if buf is None else buf
        self.k = 0  # bytes held in b
        self.n = 0  # bytes passed to the file
        self.crc = 0

    def write(self, s):  # also json.dump's stream, on the fallback path
        s = memoryview(s)  # a str's UTF-8 bytes (len(str) counts characters)
        m = len(s)
        k = self.k
        cap = len(self.b)
        if k + m > cap:
            self.flush()
            k = 0
            if m > cap:
                self._out(s)
                return m
        self.b[k:k + m] = s
        self.k = k + m
        return m

    def flush(self):
        if self.k:
            self._out(memoryview(self.b)[: self.k])
            self.k = 0

    def _out(self, b):
        self.crc = binascii.crc32(b, self.crc)
        self.n += self.f.write(b)

    def value(self, v, split_dict):
        w = self.write
        if split_dict and isinstance(v, dict):
            c = "{"
            for k in v:
                w(c)
                w(json.dumps(k))
                w(":")
                x = v[k]
                # one level down only where a long list sits (led's txn ring)
                self.value(x, isinstance(x, dict) and _long_list_in(x))
                c = ","
            w("}" if c == "," else "{}")    # an empty dict still opens its brace
        elif isinstance(v, list) and len(v) > _SPLIT:
            w("[")
            for i in range(0, len(v), _SPLIT):
                if i:
                    w(",")
                s = _dumps(v[i:i + _SPLIT])
                if s is None:
                    for j in range(i, min(i + _SPLIT, len(v))):
                        if j > i:
                            w(",")
                        self.value(v[j], False)
                else:
                    w(memoryview(s)[1:-1])  # the slice's own brackets cut off
            w("]")
        else:
            s = _dumps(v)
            if s is None:
                # heap too fragmented for this piece as one str: stream it token by token
                json.dump(v, self, separators=_SEP)
            else:
                w(s)


def _dumps(v):
    try:
        return json.dumps(v, separators=_SEP)
    except MemoryError:
        return None


def _long_list_in(d):
    for k in d:
        if isinstance(d[k], list) and len(d[k]) > _SPLIT:
            return True
    return False
