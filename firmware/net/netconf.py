# config.json "net": which interface carries the link, checked before anything starts
# (docs/field-guide.md "Network"). Bad values raise ValueError naming the key, so main.py
# exits with one clear line and nothing is brought up half-configured.
#
#   "net": {"wifi": {"ssid": "...", "password": "...", "ntp": true, "ntp_host": "..."}}
#   "net": {"cellular": {"apn": "...", "rat": "nbiot" | "catm" | "lte", "pin": "1234",
#                        "psm": true, "edrx": "0101", "bands": [3, 8, 20],
#                        "reg_timeout_s": 180, "user": "...", "password": "..."}}
#   no "net": the board's default (boards/<name>/board.py NET_DEFAULT).

from core.check import int_in, is_int

RATS = ("nbiot", "catm", "lte")


def _bad(msg):
    raise ValueError("invalid config.json: net: " + msg)


def _str(d, k, lo, hi, name, default=None):
    if k not in d:
        return default
    v = d[k]                                    # present: a string, never null
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        _bad("%s.%s must be a string of %d-%d characters" % (name, k, lo, hi))
    return v


def _bool(d, k, name, default):
    v = d[k] if k in d else default
    if not isinstance(v, bool):
        _bad("%s.%s must be true or false" % (name, k))
    return v


def _only(d, keys, name):
    for k in d:
        if k not in keys:
            _bad("%s: unknown key %s" % (name, k))


def wifi(d):
    if not isinstance(d, dict):
        _bad("wifi must be an object")
    _only(d, ("ssid", "password", "ntp", "ntp_host"), "wifi")
    ssid = _str(d, "ssid", 1, 32, "wifi")          # IEEE 802.11: SSID of 0-32 octets
    if ssid is None:
        _bad("wifi.ssid is required")
    pw = _str(d, "password", 0, 64, "wifi", "")
    # WPA2-PSK (IEEE 802.11i): a passphrase of 8-63 characters or 64 hex digits; "" = open
    if pw and (len(pw) < 8 or (len(pw) == 64 and [c for c in pw if c not in "0123456789abcdefABCDEF"])):
        _bad("wifi.password must be empty (open network), 8-63 characters or 64 hex digits")
    return {"ssid": ssid, "password": pw, "ntp": _bool(d, "ntp", "wifi", True),
            "ntp_host": _str(d, "ntp_host", 1, 64, "wifi", "pool.ntp.org")}


def cellular(d):
    if not isinstance(d, dict):
        _bad("cellular must be an object")
    _only(d, ("apn", "rat", "pin", "psm", "edrx", "bands", "reg_timeout_s", "user",
              "password"), "cellular")
    # an APN is at most 100 octets (3GPP TS 23.003 9.1); "" = the network assigns one
    apn = _str(d, "apn", 0, 100, "cellular", "")
    if [c for c in apn if c in '",\r\n']:
        _bad("cellular.apn must not contain quotes, commas or line breaks")
    rat = d.get("rat", "nbiot")
    if rat not in RATS:
        _bad("cellular.rat must be one of nbiot, catm, lte")
    pin = d.get("pin")
    if pin is not None and (not isinstance(pin, str) or not 4 <= len(pin) <= 8
                            or [c for c in pin if c not in "0123456789"]):
        _bad("cellular.pin must be 4-8 digits")             # 3GPP TS 22.030: PIN of 4-8 digits
    edrx = d.get("edrx")
    if edrx is not None and (not isinstance(edrx, str) or len(edrx) != 4 or edrx.strip("01")):
        _bad("cellular.edrx must be 4 bits, e.g. \"0101\" (3GPP TS 24.008 table 10.5.5.32)")
    bands = d.get("bands")
    if bands is not None:
        if (not isinstance(bands, list) or not 1 <= len(bands) <= 16
                or [b for b in bands if not is_int(b) or not 1 <= b <= 88]):
            _bad("cellular.bands must be a list of 1-16 E-UTRA band numbers")
    reg = d.get("reg_timeout_s", 180)
    try:
        int_in(reg, "cellular.reg_timeout_s", 10, 3600)
    except ValueError as e:
        _bad(str(e))
    user = _str(d, "user", 1, 64, "cellular")
    pw = _str(d, "password", 1, 64, "cellular")
    for v in (user, pw):
        if v is not None and [c for c in v if c in '"\r\n']:
            _bad("cellular.user/password must not contain quotes or line breaks")
    return {"apn": apn, "rat": rat, "pin": pin, "psm": _bool(d, "psm", "cellular", False),
            "edrx": edrx, "bands": bands, "reg_timeout_s": reg, "user": user, "password": pw}


def parse(net, default):
    """-> (kind, options): kind "wifi", "cellular" or "host". `default` is the board's
    NET_DEFAULT: a "net" value, or "host" for the sim board (the host's own network)."""
    if net is None:
        if default == "host":
            return "host", {}
        if default is None:
            _bad("missing, and this board has no default interface: set wifi or cellular")
        net = default
    if not isinstance(net, dict) or len(net) != 1:
        _bad("must be an object with one key, wifi or cellular")
    if "wifi" in net:
        return "wifi", wifi(net["wifi"])
    if "cellular" in net:
        return "cellular", cellular(net["cellular"])
    _bad("must be an object with one key, wifi or cellular")
