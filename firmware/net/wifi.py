# Wi-Fi station supervisor on network.WLAN(network.STA_IF), serviced once per app loop pass
# and never blocking (docs/porting.md "Network"). It reads the documented statuses
# (docs/library/network.WLAN.rst; ports/esp32/network_wlan.c):
#   STAT_GOT_IP                         -> up; RSSI read now and every RSSI_MS
#   STAT_CONNECTING                     -> wait, at most CONNECT_MS
#   STAT_WRONG_PASSWORD, STAT_NO_AP_FOUND*, STAT_CONNECT_FAIL, STAT_HANDSHAKE_TIMEOUT,
#   STAT_BEACON_TIMEOUT, any other code -> after SETTLE_MS, give up this attempt: disconnect
#                                          (which stops the driver's own retries), back off,
#                                          connect again
# A link that drops while up is left to the driver's automatic re-association for CONNECT_MS
# (status reads STAT_CONNECTING meanwhile), then handled as a failed attempt.
# Backoff: 1 s doubling to backoff_max_ms with +-50 % jitter, reset by a success.
# NTP (optional): ntptime.time() blocks for up to ntptime.timeout; it runs only when the app
# has at least NTP_BUDGET_MS of idle time before its next metering tick.
import random
from time import ticks_add, ticks_diff
from micropython import const

CONNECT_MS = const(20000)       # association + DHCP normally take 1-5 s
# status() keeps reporting the previous attempt's failure (or STAT_IDLE after disconnect())
# until the driver's next event (network_wlan.c keeps wifi_sta_disconn_reason until then),
# so a failure code is believed only this long after connect()
SETTLE_MS = const(5000)
RSSI_MS = const(60000)
BACKOFF_MS = const(1000)
NTP_PERIOD_MS = const(21600000)     # 6 h: the RTC drifts seconds a day, not minutes
NTP_RETRY_MS = const(300000)
NTP_TIMEOUT_S = 0.3
NTP_BUDGET_MS = const(600)      # idle time needed before a query (its timeout + margin)


class Wifi:
    KIND = "wifi"
    ALWAYS_UP = False

    def __init__(self, network, opts, ticks_ms, backoff_max_ms=60000, ntptime=None, epoch_s=0):
        self.nw = network
        self.wlan = network.WLAN(network.STA_IF)
        self.ssid = opts["ssid"]
        self.password = opts["password"]
        self.ticks_ms = ticks_ms
        self.backoff_max_ms = backoff_max_ms
        self.ntp = ntptime if opts.get("ntp") else None
        if self.ntp is not None:
            self.ntp.host = opts.get("ntp_host") or self.ntp.host
            self.ntp.timeout = NTP_TIMEOUT_S
        self.epoch_s = epoch_s           # added to ntptime.time() (2000-epoch ports)
        self.names = {}
        for k in dir(network):
            if k.startswith("STAT_") and k != "STAT_ASSOC_FAIL":    # deprecated alias of 203
                self.names[getattr(network, k)] = k[5:].lower()
        self.state = "off"              # off | connecting | up | backoff
        self.up = False
        self.rssi_dbm = None
        self.reason = None              # why the last attempt failed / the link dropped
        self.attempts = 0
        self.drops = 0
        self.failures = 0
        self._t = 0
        self._t_rssi = 0
        self._backoff = BACKOFF_MS
        self._t_ntp = None              # next NTP query due (ticks), None: right after up
        self.time_offer = None          # (unix s, "ntp") for the app to apply
        self.ntp_error = None

    def info(self):
        return {"iface": "wifi", "up": self.up, "rssi_dbm": self.rssi_dbm, "reason": self.reason}

    def _name(self, st):
        return self.names.get(st, "status_%s" % st)

    def _connect(self, now):
        if not self.wlan.active():
            self.wlan.active(True)
        self.wlan.connect(self.ssid, self.password)
        self.attempts += 1
        self.state = "connecting"
        self._t = now

    def _fail(self, now, reason):
        self.reason = reason
        self.failures += 1
        self.up = False
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        d = self._backoff
        self._t = ticks_add(now, d // 2 + random.getrandbits(16) % (d // 2 + 1))
        self._backoff = min(d * 2, self.backoff_max_ms)
        self.state = "backoff"

    def service(self, want, idle_ms=0):
        """One non-blocking step; -> True while the interface carries IP."""
        now = self.ticks_ms()
        nw = self.nw
        if not want:
            if self.state != "off":
                self.close()
            return False
        if self.state == "off":
            self._connect(now)
        elif self.state == "backoff":
            if ticks_diff(now, self._t) >= 0:
                self._connect(now)
        else:
            st = self.wlan.status()
            if st == nw.STAT_GOT_IP:
                if self.state != "up":
                    self.state = "up"
                    self.up = True
                    self._backoff = BACKOFF_MS
                    self._t_rssi = ticks_add(now, -RSSI_MS)
                if ticks_diff(now, self._t_rssi) >= RSSI_MS:
                    self._t_rssi = now
                    try:
                        self.rssi_dbm = self.wlan.status("rssi")
                    except OSError:
                        self.rssi_dbm = None
                self._maybe_ntp(now, idle_ms)
            else:
                waiting = st == nw.STAT_CONNECTING or st == nw.STAT_IDLE
                age = ticks_diff(now, self._t)
                if self.state == "up":            # dropped: the driver re-associates
                    self.state = "connecting"
                    self.up = False
                    self.drops += 1
                    self.reason = "dropped"
                    self._t = now
                elif age >= CONNECT_MS:
                    self._fail(now, "timeout" if waiting else self._name(st))
                elif age >= SETTLE_MS and not waiting:
                    self._fail(now, self._name(st))
        return self.up

    def _maybe_ntp(self, now, idle_ms):
        if self.ntp is None or idle_ms < NTP_BUDGET_MS:
            return
        if self._t_ntp is not None and ticks_diff(now, self._t_ntp) < 0:
            return
        # any host may answer ntptime's unconnected UDP socket: a timeout is an OSError, a
        # reply under 44 bytes a ValueError from its struct.unpack; each is a failed query,
        # retried later, never a fault of the interface
        try:
            t = self.ntp.time() + self.epoch_s
        except Exception as e:
            self._t_ntp = ticks_add(now, NTP_RETRY_MS)
            self.ntp_error = repr(e)
            return
        self._t_ntp = ticks_add(now, NTP_PERIOD_MS)
        self.ntp_error = None
        self.time_offer = (t, "ntp")

    def take_time(self):
        t = self.time_offer
        self.time_offer = None
        return t

    def close(self):
        try:
            self.wlan.disconnect()
            self.wlan.active(False)
        except OSError:
            pass
        self.state = "off"
        self.up = False
