# Per-day and per-month consumption and cost: the billing transparency the resident
# sees. Rings keyed by local date. The running "today" lives in the prepay record
# (saved with the money); a day is folded in here at local midnight and this record
# is saved then, so it costs one flash write per day.
#
# day entry:   [days_since_epoch, use_base, cost_micro, standing_minor]
# month entry: [year*12 + month - 1, use_base, cost_micro, standing_minor]
from micropython import const

from core import clock
from core.check import int_in, is_int

DAYS_KEEP = const(62)
MONTHS_KEEP = const(24)
RECORD = "history"


def _month_key(days):
    y, m, _ = clock.civil_from_days(days)
    return y * 12 + m - 1


def _valid_rows(rows, keep):
    if not isinstance(rows, list) or len(rows) > keep:
        return False
    last = None
    for r in rows:
        if not isinstance(r, list) or len(r) != 4:
            return False
        for v in r:
            if not is_int(v) or v < 0:
                return False
        if last is not None and r[0] <= last:
            return False
        last = r[0]
    return True


class History:
    def __init__(self, d=None):
        d = d or {}
        days = d.get("d", [])
        months = d.get("m", [])
        last = d.get("last", -1)
        if not _valid_rows(days, DAYS_KEEP) or not _valid_rows(months, MONTHS_KEEP):
            raise ValueError("history rows invalid")
        int_in(last, "history last")
        self.days = days
        self.months = months
        self.last_day = last  # newest folded day: folding is idempotent across reboots

    def to_dict(self):
        return {"d": self.days, "m": self.months, "last": self.last_day}

    def fold(self, days, use_base, cost_micro, standing_minor):
        """Add one closed local day. Returns False (nothing changed) if that day, or a
        later one, was already folded (a reboot mid-rollover, or a clock jump back)."""
        if days <= self.last_day:
            return False
        self.last_day = days
        self.days.append([days, use_base, cost_micro, standing_minor])
        if len(self.days) > DAYS_KEEP:
            self.days.pop(0)
        mk = _month_key(days)
        if self.months and self.months[-1][0] == mk:
            row = self.months[-1]
            row[1] += use_base
            row[2] += cost_micro
            row[3] += standing_minor
        else:
            self.months.append([mk, use_base, cost_micro, standing_minor])
            if len(self.months) > MONTHS_KEEP:
                self.months.pop(0)
        return True

    def day(self, days):
        for r in self.days:
            if r[0] == days:
                return r
        return None

    def view(self, n_days=7):
        """Compact view for status/telemetry: the last n_days days and all months,
        cost in whole minor units (cost_micro // 1e6 + standing)."""
        out_d = []
        for r in self.days[-n_days:]:
            out_d.append([clock.iso_date(r[0]), r[1], r[2] // 1000000 + r[3]])
        out_m = []
        for r in self.months:
            out_m.append(["%04d-%02d" % (r[0] // 12, r[0] % 12 + 1), r[1], r[2] // 1000000 + r[3]])
        return {"days": out_d, "months": out_m}
