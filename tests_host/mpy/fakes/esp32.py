# Test-only fake of the ESP32 port's `esp32` module (docs/library/esp32.rst):
# - NVS (key-value store in the NVS partition that survives resets, power cuts and firmware
#   updates). Same method names as MicroPython 1.29: set_i32, get_i32, set_blob,
#   get_blob(key, buffer) -> length, erase_key, commit. Uncommitted writes are lost on
#   reset, as on the chip.
# - the deep-sleep wake sources wake_on_ext0(pin, level) / wake_on_ext1(pins, level) with
#   WAKEUP_ALL_LOW / WAKEUP_ANY_HIGH, recorded in `wake` for the test.
WAKEUP_ALL_LOW = False          # modesp32.c: ESP_EXT1_WAKEUP_ALL_LOW is level 0
WAKEUP_ANY_HIGH = True
_committed = {}
wake = {"ext0": None, "ext1": None}


def reset_world():
    _committed.clear()
    wake["ext0"] = wake["ext1"] = None


def _check_level(level):
    if level not in (WAKEUP_ALL_LOW, WAKEUP_ANY_HIGH):
        raise ValueError("invalid level")


def wake_on_ext0(pin, level):
    _check_level(level)
    if pin is not None and getattr(pin, "id", 99) not in (0, 2, 4, 12, 13, 14, 15, 25, 26, 27,
                                                          32, 33, 34, 35, 36, 37, 38, 39):
        raise ValueError("invalid pin")          # ext0 needs an RTC GPIO
    wake["ext0"] = (None if pin is None else pin.id, level)


def wake_on_ext1(pins, level):
    _check_level(level)
    ids = tuple(p.id for p in pins) if pins is not None else None
    if ids and [i for i in ids if i not in (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34,
                                            35, 36, 37, 38, 39)]:
        raise ValueError("invalid pin")
    wake["ext1"] = (ids, level)


class NVS:
    def __init__(self, namespace):
        self.ns = namespace
        self.pending = dict(_committed.get(namespace, {}))

    def _get(self, key):
        d = _committed.get(self.ns, {})
        if key not in d:
            raise OSError(-4354)   # ESP_ERR_NVS_NOT_FOUND
        return d[key]

    def set_i32(self, key, v):
        self.pending[key] = int(v)

    def get_i32(self, key):
        return self._get(key)

    def set_blob(self, key, v):
        self.pending[key] = bytes(v)

    def get_blob(self, key, buf):
        v = self._get(key)
        if len(buf) < len(v):
            raise OSError(-4364)   # ESP_ERR_NVS_INVALID_LENGTH
        buf[:len(v)] = v
        return len(v)

    def erase_key(self, key):
        if key not in self.pending:
            raise OSError(-4354)
        del self.pending[key]

    def commit(self):
        _committed[self.ns] = dict(self.pending)


# ---- esp32.Partition (OTA): MicroPython's ports/esp32/esp32_partition.c and
# docs/library/esp32.rst, over a model of the flash and of the ESP-IDF bootloader's
# app-rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE). Errors are raised as the port's
# check_esp_err does: OSError(-esp_err, name), e.g. (-5379, 'ESP_ERR_OTA_VALIDATE_FAILED')
# from set_boot on an invalid image, (-261, 'ESP_ERR_NOT_FOUND') from
# mark_app_valid_cancel_rollback without rollback support; a partition that does not exist
# is OSError(ENOENT) (esp32_partition_new(NULL)). A test calls reset_flash() first.
_NATIVE = 4096
_flash = {}


_pool = []                      # 4 KiB blocks reused by every reset_flash(): a small heap


class _Flash:
    """A partition's bytes as 4 KiB blocks (no large contiguous allocation in a small heap)."""

    def __init__(self, size, fill):
        self.blocks = []
        for _ in range(size // _NATIVE):
            b = _pool.pop() if _pool else bytearray(_NATIVE)
            b[:] = fill * _NATIVE
            self.blocks.append(b)

    def __getitem__(self, i):
        return self.blocks[i // _NATIVE][i % _NATIVE]

    def read(self, off, buf):
        for i in range(len(buf)):
            buf[i] = self.blocks[(off + i) // _NATIVE][(off + i) % _NATIVE]

    def write(self, off, buf, erase_first):
        for i in range(len(buf)):
            b = self.blocks[(off + i) // _NATIVE]
            j = (off + i) % _NATIVE
            b[j] = buf[i] if erase_first else b[j] & buf[i]   # NOR flash: a write clears bits

    def erase(self, block):
        self.blocks[block][:] = b"\xff" * _NATIVE


def reset_flash(ota=True, app_size=16384, rollback=True):
    """A partition table: factory or ota_0/ota_1 apps, otadata, nvs and a vfs data partition.
    The running app holds a valid image."""
    for p in _flash.get("parts", ()):
        _pool.extend(p["data"].blocks)
        p["data"].blocks = []
    parts = []
    addr = 0x10000
    labels = ("ota_0", "ota_1") if ota else ("factory",)
    for i, lab in enumerate(labels):
        parts.append({"type": 0, "subtype": 0x10 + i if ota else 0, "addr": addr,
                      "size": app_size, "label": lab, "data": _Flash(app_size, b"\xff")})
        addr += app_size
    for lab, sub in (("nvs", 2), ("vfs", 0x81)):
        parts.append({"type": 1, "subtype": sub, "addr": addr, "size": _NATIVE, "label": lab,
                      "data": _Flash(_NATIVE, b"\x00")})
        addr += _NATIVE
    first = parts[0]
    first["data"].write(0, b"\xe9\x03\x02\x20", True)   # an ESP image header (magic 0xE9)
    _flash.clear()
    _flash.update({"parts": parts, "boot": first["label"], "running": first["label"],
                   "state": {first["label"]: "valid"}, "rollback": rollback, "fail": {},
                   "calls": [], "last_valid": first["label"]})


def _find(label):
    for p in _flash["parts"]:
        if p["label"] == label:
            return p
    return None


def _err(code, name):
    raise OSError(-code, name)


def _maybe_fail(op):
    n = _flash["fail"].get(op)
    if n is not None:
        if n <= 0:
            _err(-1, "ESP_FAIL")                      # check_esp_err: ESP_FAIL -> OSError(1)
        _flash["fail"][op] = n - 1


def bootloader_reset():
    """What the ROM bootloader does at a reset: run the otadata boot partition; a new image
    runs once as pending-verify; one still pending at the next reset is aborted and the last
    valid one runs again (ESP-IDF app rollback)."""
    f = _flash
    b = f["boot"]
    st = f["state"].get(b, "valid")
    if st == "new":
        f["state"][b] = "pending_verify" if f["rollback"] else "valid"
    elif st == "pending_verify" and f["rollback"]:
        f["state"][b] = "aborted"
        b = f["last_valid"]
        f["boot"] = b
    f["running"] = b


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_NATIVE):
        if isinstance(id, int):
            if id == Partition.BOOT:
                p = _find(_flash["boot"])
            elif id == Partition.RUNNING:
                p = _find(_flash["running"])
            else:
                raise ValueError()
        else:
            p = _find(id)
        if p is None:
            raise OSError(2)                          # MP_ENOENT
        self.p = p
        self.bs = block_size

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=_NATIVE):
        return [Partition(p["label"], block_size) for p in _flash["parts"]
                if p["type"] == type and (subtype == 0xFF or p["subtype"] == subtype)
                and (label is None or p["label"] == label)]

    def info(self):
        p = self.p
        return (p["type"], p["subtype"], p["addr"], p["size"], p["label"], False)

    def _range(self, off, n):
        if off + n > self.p["size"]:
            _err(0x104, "ESP_ERR_INVALID_SIZE")

    def readblocks(self, block, buf, offset=0):
        off = block * self.bs + offset
        self._range(off, len(buf))
        self.p["data"].read(off, buf)

    def writeblocks(self, block, buf, offset=None):
        _maybe_fail("writeblocks")
        off = block * self.bs
        d = self.p["data"]
        if offset is not None:                        # extended: erased before, by ioctl
            off += offset
        self._range(off, len(buf))
        d.write(off, buf, offset is None)             # simple: erase, then write
        _flash["calls"].append(("write", self.p["label"], off, len(buf)))

    def ioctl(self, op, arg):
        if op in (1, 2, 3):
            return 0
        if op == 4:
            return self.p["size"] // self.bs
        if op == 5:
            return self.bs
        if op == 6:
            if self.bs != _NATIVE:
                return -22                            # -MP_EINVAL
            _maybe_fail("erase")
            off = arg * _NATIVE
            self._range(off, _NATIVE)
            self.p["data"].erase(arg)
            return 0
        return None

    def set_boot(self):
        _maybe_fail("set_boot")
        p = self.p
        if p["type"] != 0 or p["data"][0] != 0xE9:    # esp_ota_set_boot_partition validates
            _err(0x1503, "ESP_ERR_OTA_VALIDATE_FAILED")
        _flash["boot"] = p["label"]
        if p["label"] != _flash["running"]:
            _flash["state"][p["label"]] = "new"
        _flash["calls"].append(("set_boot", p["label"]))

    def get_next_update(self):
        apps = [p for p in _flash["parts"] if p["type"] == 0 and 0x10 <= p["subtype"] < 0x20]
        if not apps:
            raise OSError(2)                          # esp_ota_get_next_update_partition: NULL
        labels = [p["label"] for p in apps]
        me = self.p["label"]
        i = (labels.index(me) + 1) % len(labels) if me in labels else 0
        return Partition(labels[i])

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        if not _flash["rollback"]:
            _err(0x105, "ESP_ERR_NOT_FOUND")
        r = _flash["running"]
        _flash["state"][r] = "valid"
        _flash["last_valid"] = r
        _flash["calls"].append(("mark_valid", r))

