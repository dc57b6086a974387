# Prepay's days: the daily rollover at local midnight (history fold, "daily" event) and
# the standing charge for every local day exactly once (docs/ledger.md §4). A base class of
# Prepay (core/prepay.py): Prepay's own methods, in a file of their own.
from micropython import const

from core import clock, tariff

# Most days of standing charge taken in one catch-up (a meter off for two months, the
# history's 62 days); beyond it a gap is reported, not charged, so a bogus forward clock
# jump cannot drain the account (docs/ledger.md)
CATCHUP_DAYS = const(62)


class Days:
    def _rollover(self, now_s):
        tz = tariff.tz_offset_s(self.tar)
        days = clock.local(now_s, tz)[0]
        if self.today is None:
            self.today = [days, 0, 0, 0]
        elif days > self.today[0]:
            d, use, cost_micro, st = self.today
            if self.hist.fold(d, use, cost_micro, st):
                self.hist_dirty = True
            self.emit("daily", now_s, day=clock.iso_date(d), use=use, cost=cost_micro // 1000000 + st)
            self.today = [days, 0, 0, 0]
            self._urgent = True
        # standing charge: every local day exactly once. st_day only moves forward, so a
        # clock jump back charges nothing again; days skipped (meter off, clock jumped
        # forward) are charged at the next tick, at most CATCHUP_DAYS of them (docs/ledger.md)
        if self.st_day is None:
            self._standing(days, days, now_s, tz)
        elif days > self.st_day:
            self._standing(self.st_day + 1, days, now_s, tz)

    def _standing(self, first, days, now_s, tz):
        n = days - first + 1
        skip = n - CATCHUP_DAYS if n > CATCHUP_DAYS else 0
        total = 0
        for d in range(first + skip, days + 1):
            # each day at the tariff in force at its local midnight (a pending tariff's
            # "from" counts); today at now
            amt = tariff.standing_minor_per_day(self.tar, now_s if d == days else max(0, d * 86400 - tz))
            total += amt
            if d < days and amt and self.hist.fold(d, 0, 0, amt):
                self.hist_dirty = True  # a missed day: no use, its standing charge only
        self.st_day = days
        self._urgent = True
        if total:
            self.led.standing(total)
        if self.today[0] == days:
            self.today[3] += amt  # the loop's last day is today
        if n > 1:
            ev = {"days": n - skip, "amount": total, "from": clock.iso_date(first + skip),
                  "to": clock.iso_date(days)}
            if skip:
                # a long gap or a bogus forward jump: the head-end reconciles these days
                ev["uncharged_days"] = skip
                ev["uncharged_from"] = clock.iso_date(first)
                ev["uncharged_to"] = clock.iso_date(first + skip - 1)
            self.emit("standing_catchup", now_s, **ev)
