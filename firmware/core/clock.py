# Civil-date arithmetic on integer days since 1970-01-01, with no epoch assumption:
# the ESP32 port counts from 2000 and the unix port from 1970, so time.gmtime() is never
# used. Days <-> (y, m, d) follow the proleptic Gregorian calendar (the era-based
# algorithm: 400-year eras of 146097 days, years starting on 1 March so the leap day
# is the last day of the shifted year).
from core.check import DAYS_MAX, int_in  # noqa: F401 (DAYS_MAX: days_from_civil(9999, 12, 31))

DAY_S = 86400
# Range accepted from outside: years 1970..9999 cover any plausible meter clock and keep
# every intermediate value a small int on a 32-bit port.
YEAR_MIN = 1970
YEAR_MAX = 9999
# UTC-12..UTC+14 are the real extremes; +-14 h keeps the check symmetric.
TZ_MAX_S = 14 * 3600


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def month_days(y, m):
    if m == 2:
        return 29 if is_leap(y) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def days_from_civil(y, m, d):
    int_in(y, "year", YEAR_MIN, YEAR_MAX)
    int_in(m, "month", 1, 12)
    int_in(d, "day", 1, 31)
    if d > month_days(y, m):
        raise ValueError("day: %d-%02d has %d days" % (y, m, month_days(y, m)))
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    int_in(days, "days", 0, DAYS_MAX)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return (y, m, d)


def weekday(days):
    # 1970-01-01 was a Thursday (3 with Monday = 0)
    int_in(days, "days", 0, DAYS_MAX)
    return (days + 3) % 7


def local(now_s, tz_offset_s):
    # -> (local day number, seconds into the local day)
    int_in(now_s, "now_s", 0, DAYS_MAX * DAY_S)
    int_in(tz_offset_s, "tz_offset_s", -TZ_MAX_S, TZ_MAX_S)
    t = now_s + tz_offset_s
    if t < 0:
        t = 0  # the first hours of 1970 in a UTC+ zone: clamp rather than go negative
    return (t // DAY_S, t % DAY_S)


def check_tz(tz_offset_s, name="tz_offset_s"):
    int_in(tz_offset_s, name, -TZ_MAX_S, TZ_MAX_S)
    if tz_offset_s % 60:
        raise ValueError("%s: not a whole number of minutes" % name)
    return tz_offset_s


def utc_of_local(days, sec_of_day, tz_offset_s):
    # The UTC instant of a local (day, second); inverse of local() away from the clamp.
    return days * DAY_S + sec_of_day - tz_offset_s


def iso_date(days):
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02d" % (y, m, d)


def _digits(s, name):
    for c in s:
        if c < "0" or c > "9":
            raise ValueError("%s: not digits" % name)
    return int(s)


def parse_hhmm(s, allow_24=False):
    # "HH:MM" -> seconds of day. allow_24 admits "24:00" (= 86400) as an end of window.
    if type(s) is not str:
        raise ValueError("time: not a string")
    if len(s) != 5 or s[2] != ":":
        raise ValueError("time: want HH:MM, got %r" % (s[:12],))
    h = _digits(s[:2], "time")
    mi = _digits(s[3:], "time")
    if mi > 59:
        raise ValueError("time: minute out of range in %r" % s)
    if h == 24 and mi == 0 and allow_24:
        return DAY_S
    if h > 23:
        raise ValueError("time: hour out of range in %r" % s)
    return h * 3600 + mi * 60


def parse_date(s):
    # "YYYY-MM-DD" -> days since 1970-01-01
    if type(s) is not str:
        raise ValueError("date: not a string")
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError("date: want YYYY-MM-DD, got %r" % (s[:16],))
    return days_from_civil(_digits(s[:4], "date"), _digits(s[5:7], "date"), _digits(s[8:], "date"))


def fmt_hhmm(sec_of_day):
    return "%02d:%02d" % (sec_of_day // 3600, sec_of_day % 3600 // 60)


def add_months(y, m, n):
    # (y, m) + n months -> (y, m)
    k = y * 12 + (m - 1) + n
    return (k // 12, k % 12 + 1)
