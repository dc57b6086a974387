# Test-only fake of micropython-lib's `ntptime` (frozen into the ESP32 firmware): module
# variables `host` and `timeout`, time() -> seconds since the port's epoch (gmtime(0)[0]:
# 2000 on the ESP32, 1970 on the unix port) and OSError when the server does not answer
# in `timeout` seconds (the socket's ETIMEDOUT). settime() sets machine.RTC.
# The test sets what the "server" answers: offset_s from the host clock, or a failure.
import time as _time

host = "pool.ntp.org"
timeout = 1
offset_s = 0            # test side: the server's time minus the host's
fail = None             # test side: an errno to raise instead of answering
calls = []              # test side: (host, timeout) of every query


def time_():
    calls.append((host, timeout))
    if len(calls) > 100:
        del calls[:50]
    if fail is not None:
        raise OSError(fail)
    return int(_time.time()) + offset_s


def settime():
    import machine
    t = time_()
    tm = _time.gmtime(t)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))


time = time_          # the module function is named time, like the real one
