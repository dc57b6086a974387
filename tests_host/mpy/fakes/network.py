# Test-only fake of the ESP32 port's `network` module: WLAN (station) and PPP, with the
# constants, return values and exceptions of MicroPython 1.29's esp32 port:
#   - docs/library/network.WLAN.rst and network.PPP.rst;
#   - ports/esp32/network_wlan.c: status() maps the driver's last disconnect reason (the
#     ESP-IDF wifi_err_reason_t codes 200-212) and, while a connect is requested, reports
#     STAT_CONNECTING as the driver re-associates by itself after a drop; status("rssi")
#     raises OSError("Wifi Not Connected") when not associated; connect() on an inactive
#     interface raises OSError("Wifi Not Started");
#   - ports/esp32/network_ppp.c: PPP(stream), connect() raises OSError(EALREADY) while
#     connecting or connected, status() is the state (0 inactive .. 4 connected) or minus
#     the lwIP error code, disconnect() does nothing unless connecting/connected.
# The radio world is simulated by time (set_clock(ticks_ms)): one access point
# (set_ap), association after `assoc_ms`, drops on demand (drop()). PPP follows the peer
# device on its stream (a fake modem's `carrier` flag).
import time

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212
_ASSOC_LEAVE = 8            # WIFI_REASON_ASSOC_LEAVE: after disconnect()
_EALREADY = 114

_clock = [time.ticks_ms]
_sta = {}
_ap = {}
_log = []


def set_clock(ticks_ms):
    _clock[0] = ticks_ms


def reset_world(ssid="meters", key="secret-pass", rssi=-61, assoc_ms=300, present=True):
    _ap["refuse"] = 0
    _sta.clear()
    _sta.update({"active": False, "requested": False, "connected": False, "reason": 0,
                 "ssid": None, "key": None, "t_try": None, "reconnects": 0})
    set_ap(ssid, key, rssi, assoc_ms, present)
    del _log[:]


def set_ap(ssid=None, key=None, rssi=None, assoc_ms=None, present=None, refuse=None):
    """Test side: the access point in range (present=False: none answers; refuse: a reason
    code it rejects every association with, e.g. STAT_CONNECT_FAIL; 0 to accept again)."""
    for k, v in (("ssid", ssid), ("key", key), ("rssi", rssi), ("assoc_ms", assoc_ms),
                 ("present", present), ("refuse", refuse)):
        if v is not None:
            _ap[k] = v


def drop(reason=STAT_BEACON_TIMEOUT):
    """Test side: the link drops (the AP vanished: beacon timeout, by default)."""
    if _sta["connected"]:
        _sta["connected"] = False
        _sta["reason"] = reason
        _sta["t_try"] = _clock[0]()       # the driver re-associates by itself
        _log.append(("drop", reason))


def log():
    return _log


def _advance():
    s = _sta
    if not s["requested"] or s["connected"] or s["t_try"] is None:
        return
    now = _clock[0]()
    if time.ticks_diff(now, s["t_try"]) < _ap["assoc_ms"]:
        return
    s["t_try"] = now            # the next automatic attempt (network_wlan.c reconnects)
    s["reconnects"] += 1
    if not _ap["present"] or s["ssid"] != _ap["ssid"]:
        s["reason"] = STAT_NO_AP_FOUND
    elif s["key"] != _ap["key"]:
        s["reason"] = STAT_WRONG_PASSWORD
    elif _ap.get("refuse"):
        s["reason"] = _ap["refuse"]
    else:
        s["connected"] = True
        s["reason"] = 0
        _log.append(("got_ip", s["ssid"]))


reset_world()


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self.if_id = interface_id

    def active(self, is_active=None):
        if is_active is None:
            return _sta["active"]
        _sta["active"] = bool(is_active)
        if not is_active:
            _sta["connected"] = False
            _sta["requested"] = False
        _log.append(("active", bool(is_active)))
        return _sta["active"]

    def connect(self, ssid=None, key=None, *, bssid=None):
        if self.if_id != STA_IF:
            raise OSError("STA required")
        if not _sta["active"]:
            raise OSError("Wifi Not Started")
        if ssid is not None:
            _sta["ssid"] = ssid
            _sta["key"] = key
        _sta["requested"] = True
        _sta["reconnects"] = 0
        _sta["t_try"] = _clock[0]()
        _log.append(("connect", ssid))

    def disconnect(self):
        _sta["requested"] = False
        _sta["connected"] = False
        _sta["reason"] = _ASSOC_LEAVE
        _log.append(("disconnect",))

    def isconnected(self):
        _advance()
        return _sta["connected"]

    def status(self, param=None):
        if param is None:
            if self.if_id != STA_IF:
                return None
            _advance()
            s = _sta
            r = s["reason"]
            if s["connected"]:
                return STAT_GOT_IP
            if r in (STAT_NO_AP_FOUND, STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD,
                     STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD,
                     STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY):
                return r
            if r in (STAT_WRONG_PASSWORD, 205):      # AUTH_FAIL or CONNECTION_FAIL
                return STAT_WRONG_PASSWORD
            if r == _ASSOC_LEAVE:
                return STAT_IDLE
            if s["requested"]:
                return STAT_CONNECTING
            return STAT_IDLE if r == 0 else r
        if param == "rssi":
            if self.if_id != STA_IF:
                raise OSError("STA required")
            _advance()
            if not _sta["connected"]:
                raise OSError("Wifi Not Connected")
            return _ap["rssi"]
        raise ValueError("unknown status param")

    def ifconfig(self, cfg=None):
        if cfg is None:
            if _sta["connected"]:
                return ("192.168.4.20", "255.255.255.0", "192.168.4.1", "192.168.4.1")
            return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if args:
            if args[0] == "ssid":
                return _sta["ssid"] or ""
            if args[0] == "mac":
                return b"\x24\x0a\xc4\x00\x00\x01"
            raise ValueError("unknown config param")


class PPP:
    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2
    # ports/esp32/network_ppp.c network_ppp_state_t
    _INACTIVE, _ACTIVE, _ERROR, _CONNECTING, _CONNECTED = 0, 1, 2, 3, 4
    _PPPERR_CONNECT = 6         # lwIP: connection lost

    def __init__(self, stream):
        if not hasattr(stream, "read") or not hasattr(stream, "write"):
            raise TypeError("stream operation not supported")
        self.stream = stream
        self.state = self._INACTIVE
        self.error = 0
        self.connects = 0
        self.t_connect = None

    def _peer(self):
        return getattr(self.stream, "peer", None)

    def _advance(self):
        p = self._peer()
        # a module that stops answering stops answering LCP echo too: lwIP drops the link
        carrier = p is not None and getattr(p, "carrier", False) and not getattr(p, "hung", False)
        if self.state == self._CONNECTING:
            if not carrier:
                self.state, self.error = self._ERROR, self._PPPERR_CONNECT
            elif time.ticks_diff(_clock[0](), self.t_connect) >= getattr(p, "lcp_ms", 200):
                self.state = self._CONNECTED
        elif self.state == self._CONNECTED and not carrier:
            self.state, self.error = self._ERROR, self._PPPERR_CONNECT

    def active(self, state=None):
        if state is None:
            return self.state >= self._ACTIVE
        return None

    def connect(self, security=SEC_NONE, user=None, key=None):
        if self.state in (self._CONNECTING, self._CONNECTED):
            raise OSError(_EALREADY)
        if security not in (self.SEC_NONE, self.SEC_PAP, self.SEC_CHAP):
            raise ValueError("invalid auth")
        if security != self.SEC_NONE and (not isinstance(user, str) or not isinstance(key, str)):
            raise TypeError("can't convert NoneType to str")
        # connect() registers stream.irq(ppp.poll, stream.IRQ_RXIDLE)
        self.stream.irq(self.poll, self.stream.IRQ_RXIDLE)
        self.state = self._CONNECTING
        self.connects += 1
        self.t_connect = _clock[0]()

    def poll(self, irq_arg=None):
        if self.state <= self._ERROR:
            return -1           # -MP_EPERM: nothing read while not up
        n = 0
        d = self.stream.read()
        while d:                 # PPP frames: consumed by the (simulated) lwIP stack
            n += len(d)
            d = self.stream.read()
        return n

    def disconnect(self):
        if self.state in (self._CONNECTING, self._CONNECTED):
            self.state = self._INACTIVE
            self.stream.irq(None)
            p = self._peer()
            if p is not None and hasattr(p, "ppp_closed"):
                p.ppp_closed()          # LCP terminate: the modem leaves data mode

    def isconnected(self):
        self._advance()
        return self.state == self._CONNECTED

    def status(self):
        self._advance()
        return -self.error if self.state == self._ERROR else self.state

    def ifconfig(self, cfg=None):
        if self.isconnected():
            return ("10.64.0.17", "10.64.0.1", "255.255.255.255", "10.64.0.1")
        return (None, None, None, None)

    def ipconfig(self, *args, **kw):
        if args and args[0] == "addr4":
            return ("10.64.0.17", "255.255.255.255") if self.isconnected() else ("0.0.0.0", "0.0.0.0")
        raise ValueError("unexpected key")

    def config(self, *args, **kw):
        if "stream" in kw:
            self.stream = kw["stream"]
            return None
        if args and args[0] == "stream":
            return self.stream
        raise ValueError("unknown config param")
