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
