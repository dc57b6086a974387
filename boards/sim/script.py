# A scripted physical world for the sim board: what the household does, independent of
# whether the meter is awake or online. A water meter asleep in its pit still sees the
# tap that was opened at 02:00, so world changes cannot travel over MQTT (they would
# wait at the broker for the next radio session); they are played here, on the meter's
# own simulated clock.
#
# config.json, key "sim_script":
#   {"daily": [["HH:MM", {fields}], ...],      every local day, in time order
#    "once":  [[unix_s, {fields}], ...],        one-off changes
#    "add":   [[unix_s, {field: amount}], ...], from then on, added to that field
#                                               (a dripping tap under the normal use)
#    "tz_offset_s": int}                        local time for "daily" (default 0)
# Fields are the sim-topic fields of the meter's kind (load_w, flow_lph, ...).
from core import clock

DAY_S = 86400


def _check_fields(fields, where):
    if not isinstance(fields, dict) or not fields:
        raise ValueError("sim_script: %s: fields must be a non-empty object" % where)


class WorldScript:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("sim_script must be an object")
        for k in spec:
            if k not in ("daily", "once", "add", "tz_offset_s"):
                raise ValueError("sim_script: unknown key %r" % k)
        tz = spec.get("tz_offset_s", 0)
        if not isinstance(tz, int) or isinstance(tz, bool) or not -50400 <= tz <= 50400:
            raise ValueError("sim_script: tz_offset_s must be an int within +-14 h")
        self.tz_offset_s = tz
        self.daily = []
        for i, item in enumerate(spec.get("daily", ())):
            if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
                raise ValueError("sim_script: daily[%d] must be [\"HH:MM\", {fields}]" % i)
            _check_fields(item[1], "daily[%d]" % i)
            self.daily.append((clock.parse_hhmm(item[0]), item[1]))
        self.daily.sort(key=lambda x: x[0])
        self.once = []
        for i, item in enumerate(spec.get("once", ())):
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], int)
                    or isinstance(item[0], bool)):
                raise ValueError("sim_script: once[%d] must be [unix_s, {fields}]" % i)
            _check_fields(item[1], "once[%d]" % i)
            self.once.append((item[0], item[1]))
        self.once.sort(key=lambda x: x[0])
        self.add = []
        for i, item in enumerate(spec.get("add", ())):
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], int)
                    or isinstance(item[0], bool)):
                raise ValueError("sim_script: add[%d] must be [unix_s, {field: amount}]" % i)
            _check_fields(item[1], "add[%d]" % i)
            for k, v in item[1].items():
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ValueError("sim_script: add[%d].%s must be a number" % (i, k))
            self.add.append((item[0], item[1]))
        self.add.sort(key=lambda x: x[0])
        self.last_s = None
        self.current = {}   # the household's own values, before the additions
        self.offsets = {}

    def next_change(self, after_s):
        """The first instant > after_s at which the script changes the world (None if never)."""
        best = None
        for lst in (self.once, self.add):
            for t, _ in lst:
                if t > after_s:
                    if best is None or t < best:
                        best = t
                    break
        if self.daily:
            days, sod = clock.local(after_s, self.tz_offset_s)
            day0 = after_s - sod
            for d in (0, 1):
                for s, _ in self.daily:
                    t = day0 + d * DAY_S + s
                    if t > after_s:
                        if best is None or t < best:
                            best = t
                        break
                else:
                    continue
                break
        return best

    def changes_at(self, t_s):
        """The field dicts that apply exactly at t_s, in order (daily first, then one-off)."""
        out = []
        if self.daily:
            _, sod = clock.local(t_s, self.tz_offset_s)
            for s, f in self.daily:
                if s == sod:
                    out.append(f)
        for t, f in self.once:
            if t == t_s:
                out.append(f)
        return out

    def state_at(self, t_s):
        """The daily fields in force at t_s (the last daily entry at or before it), for start-up."""
        if not self.daily:
            return None
        _, sod = clock.local(t_s, self.tz_offset_s)
        cur = self.daily[-1][1]
        for s, f in self.daily:
            if s <= sod:
                cur = f
        return cur

    def _apply(self, board, t_s, fields):
        out = {}
        for k, v in fields.items():
            self.current[k] = v
            off = self.offsets.get(k)
            out[k] = v + off if off and isinstance(v, (int, float)) and not isinstance(v, bool) else v
        board.sim_at(t_s, out)

    def _apply_add(self, board, t_s):
        changed = {}
        for t, f in self.add:
            if t == t_s:
                for k, v in f.items():
                    self.offsets[k] = self.offsets.get(k, 0) + v
                    changed[k] = self.current.get(k, 0) + self.offsets[k]
        if changed:
            board.sim_at(t_s, changed)

    def play(self, board, upto_s):
        """Apply to `board` every change in (last played, upto_s], each at its own instant.
        `board.sim_at(t_s, fields)` integrates the world up to t_s under the old fields first."""
        if self.last_s is None:
            # start-up: the daily state in force, then every one-off change and addition
            # already due (a world that began before the meter did)
            first = self.state_at(upto_s)
            if first:
                self._apply(board, upto_s, first)
            for t, f in self.once:
                if t <= upto_s:
                    self._apply(board, upto_s, f)
            for t, f in self.add:
                if t <= upto_s:
                    for k, v in f.items():
                        self.offsets[k] = self.offsets.get(k, 0) + v
                    board.sim_at(upto_s, {k: self.current.get(k, 0) + self.offsets[k] for k in f})
            self.last_s = upto_s
            return
        t = self.next_change(self.last_s)
        while t is not None and t <= upto_s:
            for f in self.changes_at(t):
                self._apply(board, t, f)
            self._apply_add(board, t)
            self.last_s = t
            t = self.next_change(t)
        self.last_s = upto_s
