# Keypad driver: scans Pin-like objects, debounces, assembles a token and hands it
# to TokenEntry.enter(). Two wirings:
#   - matrix: `rows` are outputs driven low one at a time, `cols` are inputs with
#     pull-ups; `layout` names the keys row by row ("123A456B789C*0#D" for 4x4);
#   - direct: `keys` is a list of (pin, char), one input with pull-up per key
#     (the 4-key "1234" keypad of OpenPAYGO's restricted digit set).
# '*' clears, '#' submits. Without a '#' key (4-key pads) a code submits itself
# at 20 keys, or at 15 keys after SUBMIT_IDLE_MS without a key.
# Time comes in as arguments: t_ms (monotonic ms, from the board clock) for
# debounce, now_s for the entry.
from micropython import const

DEBOUNCE_MS = const(30)        # contact bounce of membrane keypads settles in < 20 ms
DIGIT_TIMEOUT_MS = const(20000)  # STS IEC 62055-41: 20 s between digits, then discard
SUBMIT_IDLE_MS = const(3000)   # 4-key pads: a 15-key code is complete after 3 s idle
MAX_KEYS = const(24)           # longest code is 20 keys; more is kept to be rejected


class Keypad:
    def __init__(self, entry, rows=None, cols=None, layout=None, keys=None):
        if keys is not None:
            if rows or cols or not keys:
                raise ValueError("keypad: give keys, or rows+cols+layout")
            self.keys = list(keys)
            self.has_enter = any(c == "#" for _, c in self.keys)
        else:
            if not rows or not cols or not isinstance(layout, str) \
                    or len(layout) != len(rows) * len(cols):
                raise ValueError("keypad: layout must name rows x cols keys")
            self.keys = None
            self.has_enter = "#" in layout
        self.rows, self.cols, self.layout = rows, cols, layout
        self.entry = entry
        self.buf = ""
        self.last_key_ms = None
        self.last_result = None
        self._raw = None       # what the last scan saw
        self._raw_ms = 0       # since when
        self._stable = None    # debounced key state
        if rows:
            for r in rows:
                r.value(1)

    def scan(self):
        """The one key held now, or None (none, or several: ghosting is ignored)."""
        hit = None
        if self.keys is not None:
            for pin, ch in self.keys:
                if not pin.value():
                    if hit is not None:
                        return None
                    hit = ch
            return hit
        ncol = len(self.cols)
        for i, r in enumerate(self.rows):
            r.value(0)
            for j, c in enumerate(self.cols):
                if not c.value():
                    if hit is not None:
                        hit = "?"
                    else:
                        hit = self.layout[i * ncol + j]
            r.value(1)
        return None if hit == "?" else hit

    def poll(self, t_ms, now_s):
        """Call every ~10 ms. Returns the entry result when a code was submitted."""
        raw = self.scan()
        if raw != self._raw:
            self._raw, self._raw_ms = raw, t_ms
        res = None
        if raw != self._stable and t_ms - self._raw_ms >= DEBOUNCE_MS:
            self._stable = raw
            if raw is not None:
                res = self._key(raw, t_ms, now_s)
        if res is None and self.buf and self.last_key_ms is not None:
            idle = t_ms - self.last_key_ms
            if idle >= DIGIT_TIMEOUT_MS:
                self.buf = ""  # abandoned entry: discarded, never submitted
                self.last_key_ms = None
            elif not self.has_enter and len(self.buf) == 15 and idle >= SUBMIT_IDLE_MS:
                res = self._submit(now_s)
        self.entry.tick(t_ms)
        return res

    def _key(self, ch, t_ms, now_s):
        self.last_key_ms = t_ms
        if ch == "*":
            self.buf = ""
            return None
        if ch == "#":
            return self._submit(now_s) if self.buf else None
        if len(self.buf) < MAX_KEYS:
            self.buf += ch
        if not self.has_enter and len(self.buf) == 20:
            return self._submit(now_s)
        return None

    def _submit(self, now_s):
        digits, self.buf, self.last_key_ms = self.buf, "", None
        self.last_result = self.entry.enter(digits, now_s)
        return self.last_result
