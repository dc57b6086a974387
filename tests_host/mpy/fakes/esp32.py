# Test-only fake of the ESP32 port's `esp32.NVS` (key-value store in the NVS partition that
# survives resets, power cuts and firmware updates). Same method names as MicroPython 1.29:
# set_i32, get_i32, set_blob, get_blob(key, buffer) -> length, erase_key, commit.
# Uncommitted writes are lost on reset, as on the chip.
_committed = {}


def reset_world():
    _committed.clear()


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
