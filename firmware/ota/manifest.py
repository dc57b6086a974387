# The update manifest (docs/ota.md "Manifest"): what the utility's key signs. Text, read
# line by line from flash so a large one never sits whole in the heap:
#   OTA1 {"type": "bundle", "version": "1.2.0", "board": "sim", "kinds": [...], ...}\n
#   <sha256 hex> <size> <path>\n          one per file of an app bundle, paths ascending
#   <sha256 hex>\n                        or one per 4 KiB block of a firmware image
# Everything here is input from outside until the signature verified, and even then a
# field out of range is refused with a specific reason, never trusted.
from binascii import unhexlify

from core.check import int_in, is_int

MAGIC = b"OTA1 "
HEADER_MAX = 1024
FILES_MAX = 512
FILE_MAX = 1 << 20              # one bundle file (the largest .mpy is ~12 KiB)
IMAGE_MAX = 4 << 20             # an ESP32 app partition is at most a few MiB
BLOCK = 4096                    # esp32.Partition's native erase block (esp32_partition.c)
BASE_FILES = ("boot.py", "main.py", "loader.py", "loader.mpy", "OTA_MANIFEST")   # never in a bundle
KINDS = ("electricity", "water", "gas")
_PATH_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/"
_HEX = "0123456789abcdef"


def vtuple(s):
    """ "1.2.3" -> (1, 2, 3); ValueError unless three integers 0..999."""
    if not isinstance(s, str) or len(s) > 11:
        raise ValueError("version must be X.Y.Z")
    p = s.split(".")
    if len(p) != 3:
        raise ValueError("version must be X.Y.Z")
    out = []
    for x in p:
        if not x or len(x) > 3 or [c for c in x if c not in "0123456789"]:
            raise ValueError("version must be X.Y.Z")
        out.append(int(x))
    return tuple(out)


def parse_header(line):
    """The first line -> header dict, validated; ValueError with the field at fault."""
    import json
    if not line.startswith(MAGIC) or not line.endswith(b"\n") or len(line) > HEADER_MAX:
        raise ValueError("no OTA1 header")
    try:
        h = json.loads(line[len(MAGIC):-1])
    except ValueError:
        raise ValueError("header is not JSON")
    if not isinstance(h, dict):
        raise ValueError("header is not an object")
    t = h.get("type")
    if t not in ("bundle", "firmware"):
        raise ValueError("type must be bundle or firmware")
    for k in ("version", "min_from"):
        vtuple(h.get(k))
    if "floor" in h and vtuple(h["floor"]) > vtuple(h["version"]):
        raise ValueError("floor above version")
    b = h.get("board")
    if not isinstance(b, str) or not 0 < len(b) <= 32:
        raise ValueError("board must be a name")
    ks = h.get("kinds")
    if not isinstance(ks, list) or not ks or [k for k in ks if k not in KINDS]:
        raise ValueError("kinds must list meter kinds")
    int_in(h.get("health_s"), "health_s", 10, 7 * 86400)
    int_in(h.get("loops"), "loops", 1, 100000)
    if t == "bundle":
        int_in(h.get("files"), "files", 1, FILES_MAX)
        int_in(h.get("bytes"), "bytes", 1, FILES_MAX * FILE_MAX)
    else:
        int_in(h.get("size"), "size", 1, IMAGE_MAX)
        if h.get("block") != BLOCK:
            raise ValueError("block must be %d" % BLOCK)
    f = h.get("formats", {})
    if not isinstance(f, dict):
        raise ValueError("formats must be an object")
    for k in f:
        w = f[k]
        if (not isinstance(w, list) or len(w) != 2 or not is_int(w[0]) or not isinstance(w[1], list)
                or [x for x in w[1] if not is_int(x)] or w[0] not in w[1]):
            raise ValueError("formats.%s must be [write, [readable...]]" % k)
    return h


def blocks(h):
    return (h["size"] + BLOCK - 1) // BLOCK


def _sha(hexs):
    if len(hexs) != 64 or [c for c in hexs if c not in _HEX]:
        raise ValueError("bad sha256")
    return unhexlify(hexs)


def parse_entry(line):
    """ "<sha> <size> <path>\\n" -> (digest, size, path)."""
    if not line.endswith(b"\n") or len(line) > 200:
        raise ValueError("bad file line")
    p = line[:-1].decode().split(" ")
    if len(p) != 3:
        raise ValueError("bad file line")
    d = _sha(p[0])
    if not p[1] or len(p[1]) > 8 or [c for c in p[1] if c not in "0123456789"]:
        raise ValueError("bad file size")
    size = int(p[1])
    path = p[2]
    if size > FILE_MAX:
        raise ValueError("file too large")
    check_path(path)
    return d, size, path


def check_path(path):
    if not 0 < len(path) <= 64 or path[0] == "/" or path[-1] == "/" or path in BASE_FILES:
        raise ValueError("bad path")
    for c in path:
        if c not in _PATH_OK:
            raise ValueError("bad path")
    for part in path.split("/"):
        if part in ("", ".", "..") or part.startswith("."):
            raise ValueError("bad path")


def parse_block(line):
    if len(line) != 65 or line[-1:] != b"\n":
        raise ValueError("bad block line")
    return _sha(line[:64].decode())


def scan(f, h, block_size=4096):
    """Check every entry after the header (f positioned there) without holding them:
    counts, sizes, ascending unique paths, an app module present. ValueError otherwise.
    -> bytes the files take on a filesystem of block_size (a block each for metadata)."""
    if h["type"] == "firmware":
        for _ in range(blocks(h)):
            parse_block(f.readline())
        if f.read(1):
            raise ValueError("trailing data")
        return h["size"]
    n = total = need = 0
    prev = ""
    app = False
    while True:
        line = f.readline()
        if not line:
            break
        d, size, path = parse_entry(line)
        if path <= prev:
            raise ValueError("paths must ascend")
        prev = path
        app = app or path in ("app.mpy", "app.py")
        n += 1
        total += size
        need += ((size + block_size - 1) // block_size + 1) * block_size
        if n > h["files"]:
            break
    if n != h["files"] or total != h["bytes"]:
        raise ValueError("files/bytes do not match the header")
    if not app:
        raise ValueError("no app module")
    return need


def check(h, meter, downgrade=False):
    """Is this update for this meter? -> refusal reason or None. meter: {"board", "kind",
    "version" (of the running bundle or firmware, by type), "floor", "formats": {record:
    [write, [readable]]} of the running bundle}."""
    if h["board"] != meter["board"]:
        return "wrong_board"
    if meter["kind"] not in h["kinds"]:
        return "wrong_kind"
    v = vtuple(h["version"])
    if v < vtuple(meter.get("floor") or "0.0.0"):
        return "downgrade"
    cur = vtuple(meter["version"])
    if cur < vtuple(h["min_from"]):
        return "from_too_old"
    if v == cur or (v < cur and not downgrade):
        return "not_newer"
    # record formats (docs/ota.md "Record formats"): the new bundle must read what is on
    # flash now, and the running bundle must read what the new one writes, because a
    # rollback brings it back to the records the new one left
    mine = meter.get("formats") or {}
    new = h.get("formats") or {}
    for k in new:
        if k in mine and mine[k][0] not in new[k][1]:
            return "format_unreadable"
        if k in mine and new[k][0] not in mine[k][1]:
            return "format_rollback_unsafe"
    return None
