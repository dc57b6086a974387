# config.json, read and checked before anything starts (docs/field-guide.md "Provisioning"):
# load_config() -> the validated dict, broker() -> where the link connects and its TLS
# context. Every refusal is ValueError("invalid config.json: <reason>"), so main.py exits
# with one clear line and nothing is brought up half-configured.
import json
from core import frame
from core.check import int_in, is_id


def _bad(msg):
    raise ValueError("invalid config.json: " + msg)


def load_config(flash):
    """config.json -> dict; ValueError with a clear reason when missing or invalid."""
    path = flash.rstrip("/") + "/config.json"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ValueError("missing %s (provision it: tools/headend.py provision <dir>)" % path)
    try:
        c = json.loads(text)
    except ValueError:
        _bad("not JSON")
    if not isinstance(c, dict):
        _bad("not a JSON object")
    if not is_id(c.get("id")):
        _bad("id must be 1-40 chars of [A-Za-z0-9_.:-]")
    if c.get("kind") not in ("electricity", "water", "gas"):
        _bad("kind must be electricity, water or gas")
    try:
        frame.parse_key(c.get("key"))
    except ValueError:
        _bad("key must be 64 hex characters")
    b = c.get("broker")
    if not isinstance(b, str) or not (b.startswith("mqtt://") or b.startswith("mqtts://")):
        _bad("broker must be mqtt://host:port or mqtts://host:port")
    root = c.get("root", "meters")
    if not isinstance(root, str) or not root or [x for x in root if x in "#+"] or root.endswith("/"):
        _bad("root must be a topic prefix without wildcards")
    if c.get("board", "sim") != "sim" and "sim_speed" in c:
        _bad("sim_speed is for the sim board only")
    for k in ("username", "password"):
        v = c.get(k)
        if v is not None and (not isinstance(v, str) or not 1 <= len(v) <= 128):
            _bad(k + " must be a string of 1-128 characters")
    for k in ("config", "tariff", "tls"):
        if k in c and not isinstance(c[k], dict):
            _bad(k + " must be an object")
    for k, lo, hi in (("sim_speed", 1, 1000000), ("keepalive_s", 5, 3600), ("backoff_max_s", 1, 3600)):
        if c.get(k) is not None:
            try:
                int_in(c[k], k, lo, hi)
            except ValueError as e:
                _bad(str(e))
    return c


def broker(conf, flash):
    """-> (host, port, ssl context or None) from "broker" and the optional "tls" object
    {"ca": file, "cert": file, "key": file} (paths relative to the flash dir)."""
    u = conf["broker"]
    secure = u.startswith("mqtts://")
    hp = u.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hp.rpartition(":")
    if not host:
        host, port = hp, ""
    try:
        port = int(port) if port else (8883 if secure else 1883)
    except ValueError:
        _bad("broker port must be a number")
    if not host or not 0 < port < 65536:
        _bad("broker must be mqtt://host:port")
    if not secure:
        return host, port, None
    # link/tls.py builds the context on the port's built-in `tls` module (the `ssl` wrapper is
    # frozen and MICROPYPATH hides it) and turns PEM files into the DER this mbedTLS reads
    from link import tls

    def read(name):
        with open(name if name.startswith("/") else flash.rstrip("/") + "/" + name, "rb") as f:
            return f.read()
    try:
        ctx = tls.context(conf.get("tls") or {}, read)
    except ValueError as e:
        _bad(str(e))
    return host, port, ctx
