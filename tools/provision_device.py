#!/usr/bin/env python3
"""`make provision PORT=<port> ID=<meter id>`: write a meter's config and key onto the device.

The head-end's provisioning (`tools/headend.py provision`) writes a flash directory holding
config.json with the meter id and its 32-byte key. This tool checks that file, copies it to
the device root with mpremote, and verifies it by SHA-256 computed on the device. Optionally
it also writes service.json, the salted hash of a per-meter service PIN taken from the
SERVICE_PIN environment variable (never from the command line, which `ps` shows).

The key never appears on the terminal, in an error, or on a command line: the file is copied
by path and only the key's presence and length are reported.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402  (the same mpremote wrapper and on-device hashing)

ROOT = Path(__file__).resolve().parent.parent
PIN_DIGITS = (4, 8)       # a keypad-typable PIN; shorter is guessable within the lockout
PIN_ITERATIONS = 1000     # sha256 rounds on the meter: ~50 ms on an ESP32 per attempt


class ProvisionError(Exception):
    pass


def default_source(meter_id):
    return ROOT / "out" / "provision" / meter_id


def load_config(src, meter_id):
    """Check <src>/config.json without ever echoing its content."""
    path = Path(src) / "config.json"
    if not path.is_file():
        raise ProvisionError("%s not found: run `tools/headend.py provision` for %s first "
                             "(or pass FROM=<flash dir>)" % (path, meter_id))
    try:
        cfg = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ProvisionError("%s is not valid JSON (line %s)" % (path, getattr(e, "lineno", "?")))
    if not isinstance(cfg, dict):
        raise ProvisionError("%s must hold a JSON object" % path)
    if cfg.get("id") != meter_id:
        raise ProvisionError("%s is for meter %r, not %r" % (path, cfg.get("id"), meter_id))
    key = cfg.get("key")
    if not isinstance(key, str) or len(key) != 64:
        raise ProvisionError("%s: key must be 64 hex characters (32 bytes)" % path)
    try:
        bytes.fromhex(key)
    except ValueError:
        raise ProvisionError("%s: key is not hexadecimal" % path)
    if cfg.get("kind") not in ("electricity", "water", "gas"):
        raise ProvisionError("%s: kind must be electricity, water or gas" % path)
    return path, cfg


def pin_record(pin, salt=None):
    """service.json content: salted, iterated SHA-256 of the PIN (service.py checks it)."""
    if not pin.isdigit() or not PIN_DIGITS[0] <= len(pin) <= PIN_DIGITS[1]:
        raise ProvisionError("SERVICE_PIN must be %d to %d digits" % PIN_DIGITS)
    salt = salt or os.urandom(8).hex()
    h = (salt + pin).encode()
    for _ in range(PIN_ITERATIONS):
        h = hashlib.sha256(h).digest()
    return {"pin_salt": salt, "pin_iter": PIN_ITERATIONS, "pin_sha256": h.hex()}


def provision(port, meter_id, src=None, pin=None, log=print):
    if not meter_id:
        raise ProvisionError("set ID=<meter id>")
    path, cfg = load_config(src or default_source(meter_id), meter_id)
    dev = deploy.Device(port)
    pairs = [(path, "config.json")]
    want = {"config.json": deploy.sha256(path)}
    tmp = None
    if pin:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(pin_record(pin), tmp)
        tmp.close()
        pairs.append((tmp.name, "service.json"))
        want["service.json"] = deploy.sha256(tmp.name)
    try:
        dev.put(pairs)
        got = dev.hashes(list(want))
    finally:
        if tmp:
            os.unlink(tmp.name)
    bad = [k for k, h in want.items() if got.get(k) != h]
    if bad:
        raise ProvisionError("verification failed for %s on the device" % ", ".join(bad))
    log("provisioned %s (%s) on %s: config.json verified, key present (32 bytes, not shown)%s"
        % (meter_id, cfg["kind"], port, ", service PIN set" if pin else ""))
    return cfg["kind"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", default=os.environ.get("PORT"))
    ap.add_argument("--id", default=os.environ.get("ID"))
    ap.add_argument("--from", dest="src", default=os.environ.get("FROM") or None,
                    help="flash dir written by the head-end (default out/provision/<id>)")
    a = ap.parse_args(argv)
    try:
        provision(a.port, a.id, a.src, os.environ.get("SERVICE_PIN") or None)
    except (ProvisionError, deploy.DeployError) as e:
        print("provision: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
