# core/clock.py on the unix port: civil dates against a day-by-day walk, local time,
# parsing with generated bad input.
import os
import random
import mptest
from core import clock

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)

BAD_TYPES = (None, 1.5, "1", [1], {}, True, b"1", (1,))


def test_days_walk_matches_calendar():
    # walk every day from 1970 to 2200 with an independent month-length rule
    days = 0
    y, m, d = 1970, 1, 1
    ml = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    while y < 2200:
        if days % 97 == 0 or (m == 2 and d >= 28) or d == 1:
            mptest.eq(clock.days_from_civil(y, m, d), days, (y, m, d))
            mptest.eq(clock.civil_from_days(days), (y, m, d))
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        n = 29 if m == 2 and leap else ml[m - 1]
        days += 1
        d += 1
        if d > n:
            d = 1
            m += 1
            if m > 12:
                m = 1
                y += 1


def test_known_dates():
    mptest.eq(clock.days_from_civil(1970, 1, 1), 0)
    mptest.eq(clock.days_from_civil(2000, 1, 1), 10957)   # ESP32 epoch
    mptest.eq(clock.days_from_civil(2026, 11, 28), 20785)
    mptest.eq(clock.weekday(0), 3)                          # Thursday
    mptest.eq(clock.weekday(clock.days_from_civil(2026, 11, 28)), 5)   # Saturday
    mptest.eq(clock.weekday(clock.days_from_civil(2024, 2, 29)), 3)    # Thursday
    mptest.eq(clock.iso_date(clock.days_from_civil(2024, 2, 29)), "2024-02-29")
    mptest.eq(clock.civil_from_days(clock.DAYS_MAX), (9999, 12, 31))


def test_random_roundtrip():
    random.seed(1)
    for _ in range(3000 * SOAK):
        days = random.randint(0, clock.DAYS_MAX)
        y, m, d = clock.civil_from_days(days)
        mptest.eq(clock.days_from_civil(y, m, d), days)
        mptest.eq(clock.parse_date(clock.iso_date(days)), days)
        mptest.eq(clock.weekday(days), (days + 3) % 7)


def test_local():
    mptest.eq(clock.local(0, 0), (0, 0))
    mptest.eq(clock.local(86399, 0), (0, 86399))
    mptest.eq(clock.local(86399, 1), (1, 0))
    mptest.eq(clock.local(3600, -3600), (0, 0))
    mptest.eq(clock.local(100, -3600), (0, 0))     # clamped at the start of 1970
    random.seed(2)
    for _ in range(2000):
        now = mptest.randint(50000, 4000000000)
        tz = random.randint(-56, 56) * 900
        day, sod = clock.local(now, tz)
        mptest.eq(day * 86400 + sod, now + tz)
        mptest.true(0 <= sod < 86400)
        mptest.eq(clock.utc_of_local(day, sod, tz), now)


def test_parse_hhmm_all_valid():
    for h in range(24):
        for m in range(60):
            mptest.eq(clock.parse_hhmm("%02d:%02d" % (h, m)), h * 3600 + m * 60)
            mptest.eq(clock.fmt_hhmm(h * 3600 + m * 60), "%02d:%02d" % (h, m))
    mptest.eq(clock.parse_hhmm("24:00", True), 86400)
    mptest.raises(ValueError, clock.parse_hhmm, "24:00")


def _mutate(s):
    i = random.randint(0, len(s))
    op = random.randint(0, 3)
    c = chr(random.randint(32, 126))
    if op == 0:
        return s[:i] + c + s[i:]
    if op == 1 and s:
        return s[:i] + s[i + 1:]
    if op == 2 and i < len(s):
        return s[:i] + c + s[i + 1:]
    if i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return c + s


def _valid_hhmm(s):
    if len(s) != 5 or s[2] != ":" or not (s[:2] + s[3:]).isdigit():
        return False
    return int(s[:2]) < 24 and int(s[3:]) < 60


def test_parse_hhmm_generated_bad():
    random.seed(3)
    bad = 0
    for _ in range(3000):
        s = _mutate("%02d:%02d" % (random.randint(0, 23), random.randint(0, 59)))
        if _valid_hhmm(s):
            mptest.eq(clock.parse_hhmm(s), int(s[:2]) * 3600 + int(s[3:]) * 60)
        else:
            bad += 1
            mptest.raises(ValueError, clock.parse_hhmm, s)
    mptest.true(bad > 1500, "generator produced %d bad" % bad)
    for x in BAD_TYPES + ("", "7:30", "07-30", "-1:00", "+7:30", " 7:30", "07:60", "99:99"):
        mptest.raises(ValueError, clock.parse_hhmm, x)


def _valid_date(s):
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        return False
    ds = s[:4] + s[5:7] + s[8:]
    if not ds.isdigit():
        return False
    y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
    if y < 1970 or not 1 <= m <= 12 or d < 1:
        return False
    return d <= clock.month_days(y, m)


def test_parse_date_generated_bad():
    random.seed(4)
    bad = 0
    for _ in range(3000):
        s = _mutate(clock.iso_date(random.randint(0, 40000)))
        if _valid_date(s):
            mptest.eq(clock.iso_date(clock.parse_date(s)), s)
        else:
            bad += 1
            mptest.raises(ValueError, clock.parse_date, s)
    mptest.true(bad > 1500)
    for x in BAD_TYPES + ("2026-02-29", "2025-13-01", "2025-00-10", "1969-12-31", "2025-1-1"):
        mptest.raises(ValueError, clock.parse_date, x)


def test_bad_numbers():
    random.seed(5)
    for x in BAD_TYPES:
        mptest.raises(ValueError, clock.days_from_civil, x, 1, 1)
        mptest.raises(ValueError, clock.days_from_civil, 2000, x, 1)
        mptest.raises(ValueError, clock.civil_from_days, x)
        mptest.raises(ValueError, clock.weekday, x)
        mptest.raises(ValueError, clock.local, x, 0)
        mptest.raises(ValueError, clock.local, 0, x)
    for _ in range(500):
        big = random.choice((-1, 1)) * (clock.DAYS_MAX + mptest.randint(1, 1 << 30) * 1024)
        mptest.raises(ValueError, clock.civil_from_days, big if big > 0 else -random.randint(1, 99))
        mptest.raises(ValueError, clock.local, 0, mptest.randint(14 * 3600 + 1, 1 << 31))
    mptest.raises(ValueError, clock.days_from_civil, 2025, 2, 29)
    mptest.raises(ValueError, clock.check_tz, 30)
    mptest.eq(clock.check_tz(-12 * 3600), -43200)


mptest.main(globals())
