# Network time (NTP over Wi-Fi, the cellular network's time via +CCLK): which offers may move
# the meter clock, and by how much (docs/field-guide.md "The clock"). The signed `time` op is
# the authority; network time is unauthenticated, so it may set an unsynced clock (a board
# that lost its RTC at a power cut starts at the last saved time) forward by a bounded step
# only, and afterwards only trim drift. Every step goes through clock.set_now (signed=False),
# whose own rules (2024..2100, at most a day forward once synced, at most 300 s back, held
# still rather than run backwards) still apply; only the signed `time` op steps further back.
from micropython import const

MIN_STEP_S = const(2)           # NTP and +CCLK resolve 1 s: a smaller difference is noise
# Once synced, a network offer may move the clock by at most this. The ESP32 keeps time in
# deep sleep on its internal 150 kHz RC oscillator, whose frequency varies by several percent
# over temperature (ESP32 Technical Reference Manual, "RTC clocks"): up to ~15 min a day.
NET_MAX_STEP_S = const(900)
# While unsynced (after a power cut the clock restarts at the `clock` record, which the app
# writes at least every 15 min while running), a network offer may move the clock forward
# by at most this: an outage up to a week is taken from the network; a longer one, or a
# meter's first start (no record: an RTC at its epoch, before 2024), waits for the signed
# `time` op. It bounds what one spoofed NTP reply or a fake cell's NITZ can do to a clock
# the head-end has not vouched for: a week of standing charge, tariff periods shifted by it.
NET_UNSYNCED_MAX_S = const(7 * 86400)
NET_MAX_BACK_S = const(300)     # set_now's own limit for a step back that is held, not rewound
EPOCH_2000_S = const(946684800)


def offer(clock, t_s, source):
    """-> (applied, delta_s or reason). Never raises: a refused offer changes nothing."""
    if not isinstance(t_s, int):
        return False, "not an integer"
    d = t_s - clock.now_s()
    if -MIN_STEP_S < d < MIN_STEP_S:
        return False, d
    if getattr(clock, "ok", False):
        if d > NET_MAX_STEP_S or d < -NET_MAX_STEP_S:
            return False, "step of %d s from %s exceeds %d s" % (d, source, NET_MAX_STEP_S)
    elif d > NET_UNSYNCED_MAX_S:
        return False, "unsynced: step of %d s from %s exceeds %d s" % (d, source,
                                                                     NET_UNSYNCED_MAX_S)
    if d < -NET_MAX_BACK_S:
        return False, "step back of %d s from %s" % (-d, source)
    try:
        clock.set_now(t_s, False)       # unsigned: never a rewind
    except ValueError as e:
        return False, str(e)
    return True, d


def _days(y, m, d):
    # days from 1970-01-01 (the civil-from-days inverse of core/clock.py, H. Hinnant's
    # algorithm), kept here so the network layer does not depend on the core
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_cclk(text):
    """'"24/05/01,12:34:56+08"' (+CCLK: local time, zone in quarter hours, 3GPP TS 27.007
    8.15) -> UTC unix seconds, or None if malformed or the module's unset default: years
    80-99 are its power-on value (1980, the GPS epoch), never a network time."""
    t = text.strip().strip('"')
    if len(t) != 20 or t[2] != "/" or t[5] != "/" or t[8] != "," or t[17] not in "+-":
        return None
    try:
        yy, mo, dd = int(t[0:2]), int(t[3:5]), int(t[6:8])
        hh, mi, ss = int(t[9:11]), int(t[12:14]), int(t[15:17])
        tz = int(t[18:20])
    except ValueError:
        return None
    if not (24 <= yy <= 79 and 1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60
            and ss < 60 and tz <= 56):
        return None
    local = _days(2000 + yy, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss
    q = tz * 900
    return local - q if t[17] == "+" else local + q
