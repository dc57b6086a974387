# Wi-Fi station supervisor (firmware/net/wifi.py) against the fake network.WLAN (statuses,
# stale failure codes and automatic re-association as ports/esp32/network_wlan.c has them)
# on virtual time. Every failure recovers by itself once its cause is gone.
import sys
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import random          # noqa: E402
import network         # noqa: E402  (the fake)
import ntptime         # noqa: E402  (the fake)
import mptest          # noqa: E402
from vtime import VirtualTime      # noqa: E402
from net.wifi import Wifi, CONNECT_MS, SETTLE_MS, NTP_BUDGET_MS      # noqa: E402
from net.netconf import wifi as wifi_conf      # noqa: E402

vt = VirtualTime()
network.set_clock(vt.ticks_ms)


def fresh(password="secret-pass", ntp=False, backoff_max_ms=8000, **ap):
    network.reset_world(**ap)
    ntptime.fail = None
    ntptime.offset_s = 0
    del ntptime.calls[:]
    opts = wifi_conf({"ssid": "meters", "password": password, "ntp": ntp})
    return Wifi(network, opts, vt.ticks_ms, backoff_max_ms=backoff_max_ms, ntptime=ntptime)


def run(w, ms, want=True, step=50, idle_ms=0):
    """Service every `step` ms for `ms`; -> [(t, up)] at every change of up."""
    changes = []
    last = w.up
    for _ in range(ms // step):
        up = w.service(want, idle_ms)
        if up != last:
            changes.append((vt.ms, up))
            last = up
        vt.advance(step)
    return changes


def test_connects_and_reports_rssi():
    w = fresh(rssi=-67)
    run(w, 2000)
    mptest.true(w.up)
    mptest.eq(w.info(), {"iface": "wifi", "up": True, "rssi_dbm": -67, "reason": None})
    mptest.eq(network.log()[:2], [("active", True), ("connect", "meters")])


def test_wrong_password_backs_off_and_recovers_when_fixed():
    w = fresh(password="wrong-pass1")
    run(w, SETTLE_MS + 500)
    mptest.eq((w.up, w.reason, w.state), (False, "wrong_password", "backoff"))
    mptest.true(("disconnect",) in network.log(), "the driver's own retries stopped")
    a0 = w.attempts
    run(w, 30000)
    mptest.true(w.attempts > a0 + 1, "retried")
    network.set_ap(key="wrong-pass1")          # the AP's password is changed to match
    run(w, 20000)
    mptest.true(w.up, "recovered by itself")


def test_stale_failure_status_is_not_believed_at_once():
    # after a failure, status() keeps the old code until the driver's next event: a new
    # attempt must not be failed on it (network_wlan.c wifi_sta_disconn_reason)
    w = fresh(password="wrong-pass1")
    run(w, SETTLE_MS + 500)
    network.set_ap(key="wrong-pass1")
    w._t = vt.ms                               # retry now
    ch = run(w, 3000)
    mptest.eq(ch[-1][1], True)
    mptest.true(w.up)


def test_no_ap_found_then_ap_appears():
    w = fresh(present=False)
    run(w, SETTLE_MS + 1000)
    mptest.eq(w.reason, "no_ap_found")
    network.set_ap(present=True)
    run(w, 20000)
    mptest.true(w.up)


def test_connect_fail_reads_connecting_until_timeout_then_retries():
    w = fresh()
    network.set_ap(refuse=network.STAT_CONNECT_FAIL)
    run(w, CONNECT_MS + 500)
    mptest.eq((w.up, w.reason), (False, "timeout"))
    network.set_ap(refuse=0)
    run(w, 20000)
    mptest.true(w.up)


def test_link_drop_reassociates_by_itself():
    w = fresh()
    run(w, 1500)
    mptest.true(w.up)
    network.drop()
    ch = run(w, 2000)
    mptest.eq([u for _, u in ch], [False, True], "down, then back by the driver's retry")
    mptest.eq((w.drops, w.failures), (1, 0))


def test_link_drop_with_ap_gone_recovers_after_it_returns():
    w = fresh()
    run(w, 1500)
    network.set_ap(present=False)
    network.drop()
    run(w, CONNECT_MS + 5000)
    mptest.true(not w.up and w.failures >= 1)
    network.set_ap(present=True)
    run(w, 20000)
    mptest.true(w.up)


def test_not_wanted_goes_down_and_inactive():
    w = fresh()
    run(w, 1500)
    mptest.true(w.up)
    run(w, 200, want=False)
    mptest.eq((w.up, w.state), (False, "off"))
    mptest.eq(network.WLAN(network.STA_IF).active(), False)
    run(w, 1500)
    mptest.true(w.up)


def test_backoff_doubles_with_jitter_up_to_the_cap():
    random.seed(3)
    w = fresh(present=False, backoff_max_ms=8000)
    starts = []
    last = 0
    for _ in range(4000):
        w.service(True)
        if w.attempts != last:
            last = w.attempts
            starts.append(vt.ms)
        vt.advance(50)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    mptest.true(len(gaps) >= 6, "kept retrying: %r" % gaps)
    for g in gaps:
        # one attempt lasts SETTLE_MS, then a backoff of half to all of the current step
        mptest.true(SETTLE_MS + 500 - 100 <= g <= SETTLE_MS + 8000 + 200, "gap %d" % g)
    mptest.true(max(gaps[-3:]) > SETTLE_MS + 3000, "grew towards the cap")


def test_ntp_only_in_idle_time_and_converted_to_unix_seconds():
    w = fresh(ntp=True)
    ntptime.offset_s = 42
    run(w, 2000, idle_ms=NTP_BUDGET_MS - 1)
    mptest.eq(ntptime.calls, [], "no query without the idle budget")
    run(w, 100, idle_ms=900)
    mptest.eq(len(ntptime.calls), 1)
    mptest.eq(ntptime.calls[0], ("pool.ntp.org", 0.3))
    t, src = w.take_time()
    mptest.eq(src, "ntp")
    import time
    host = int(time.time()) + 42               # the fake server answers host clock + offset
    mptest.true(host - 1 <= t <= host + 1, "%d vs %d" % (t, host))
    run(w, 1000, idle_ms=900)
    mptest.eq(len(ntptime.calls), 1, "not again before the period")


def test_ntp_failure_is_retried_later_and_link_stays_up():
    w = fresh(ntp=True)
    ntptime.fail = 110
    run(w, 2000, idle_ms=900)
    mptest.eq(len(ntptime.calls), 1)
    mptest.true(w.up and w.ntp_error is not None and w.take_time() is None)
    ntptime.fail = None
    run(w, 301000, idle_ms=900, step=1000)
    mptest.true(w.take_time() is not None, "retried after NTP_RETRY_MS")


def test_config_rejects_bad_values():
    for bad in ({}, {"ssid": ""}, {"ssid": "x" * 33}, {"ssid": 5}, {"ssid": "a", "password": "short"},
                {"ssid": "a", "password": "g" * 64}, {"ssid": "a", "ntp": "yes"},
                {"ssid": "a", "extra": 1}, "meters", None):
        mptest.raises(ValueError, wifi_conf, bad)
    mptest.eq(wifi_conf({"ssid": "a", "password": ""})["password"], "")
    mptest.eq(wifi_conf({"ssid": "a", "password": "ab" * 32})["password"], "ab" * 32)


mptest.main(globals())
