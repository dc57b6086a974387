#!/usr/bin/env python3
"""Head-end OpenPAYGO Token generator for offline top-up (docs/offline-topup.md).

Tokens come from the reference library (`openpaygo`); this tool only keeps, per
meter, the secret key, starting code, value unit and the last count issued, in a
JSON state file written atomically (a crash never loses or repeats a count).

    tokens.py --state heads.json init  M1 [--key HEX32] [--start N] [--unit 100] [--restricted]
    tokens.py --state heads.json add   M1 --minor 5000      # or --value 50
    tokens.py --state heads.json sync  M1                   # counter-sync token (value 999)
    tokens.py --state heads.json show  M1

`add` prints the token and its txn id "tok-<count>": the meter's credit event
carries the same txn, which is how the head-end reconciles offline top-ups.
"""
import argparse
import json
import os
import secrets
import sys
import time

from openpaygo import OpenPAYGOTokenEncoder, TokenType
from openpaygo.token_shared import OpenPAYGOTokenShared

MAX_STD = OpenPAYGOTokenShared.MAX_ACTIVATION_VALUE  # 995: larger values go extended
MAX_EXT = 999999


def load(path):
    if not os.path.exists(path):
        return {"meters": {}}
    with open(path) as f:
        st = json.load(f)
    if not isinstance(st, dict) or not isinstance(st.get("meters"), dict):
        raise ValueError("%s is not a token state file" % path)
    return st


def save(path, st):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def init(path, meter, key=None, start=None, unit=100, restricted=False):
    st = load(path)
    if meter in st["meters"]:
        raise ValueError("meter %s already provisioned" % meter)
    key = key or secrets.token_hex(16)
    try:
        kb = bytes.fromhex(key)
    except ValueError:
        kb = b""
    if len(kb) != 16:
        raise ValueError("key must be 32 hex characters")
    if start is None:
        start = OpenPAYGOTokenShared.generate_starting_code(kb)
    if not 0 <= start <= 999999999 or not isinstance(unit, int) or unit < 1:
        raise ValueError("start must be 0..999999999 and unit >= 1")
    m = {"key": key, "start": start, "unit": unit, "restricted": bool(restricted),
         "count": 0, "issued": []}
    st["meters"][meter] = m
    save(path, st)
    return {"paygo": {"key": key, "start": start, "unit": unit}}


def issue(path, meter, minor=None, value=None, kind="add", now_s=None):
    """Generate the next token for `meter`; returns {"token", "count", "value",
    "amount_minor", "txn"} and persists the new count before returning."""
    st = load(path)
    m = st["meters"].get(meter)
    if m is None:
        raise ValueError("unknown meter %s" % meter)
    if kind == "add":
        if (minor is None) == (value is None):
            raise ValueError("give exactly one of minor or value")
        if minor is not None:
            if minor <= 0 or minor % m["unit"]:
                raise ValueError("amount %d is not a positive multiple of the unit %d"
                                 % (minor, m["unit"]))
            value = minor // m["unit"]
        if not 0 < value <= MAX_EXT:
            raise ValueError("value must be 1..%d" % MAX_EXT)
        ttype, extended = TokenType.ADD_TIME, value > MAX_STD
    elif kind == "sync":
        ttype, extended, value = TokenType.COUNTER_SYNC, False, None
    else:
        raise ValueError("kind must be add or sync")
    count, tok = OpenPAYGOTokenEncoder.generate_token(
        secret_key=m["key"], count=m["count"], value=value, token_type=ttype,
        starting_code=m["start"], restricted_digit_set=m["restricted"],
        extended_token=extended)
    rec = {"token": tok, "count": count, "value": value or 0,
           "amount_minor": (value or 0) * m["unit"] if kind == "add" else 0,
           "txn": "tok-%d" % count, "kind": kind,
           "ts": int(time.time()) if now_s is None else now_s}
    m["count"] = count
    m["issued"] = (m["issued"] + [rec])[-200:]
    save(path, st)
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init")
    p.add_argument("meter")
    p.add_argument("--key")
    p.add_argument("--start", type=int)
    p.add_argument("--unit", type=int, default=100)
    p.add_argument("--restricted", action="store_true")
    p = sub.add_parser("add")
    p.add_argument("meter")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--minor", type=int)
    g.add_argument("--value", type=int)
    p = sub.add_parser("sync")
    p.add_argument("meter")
    p = sub.add_parser("show")
    p.add_argument("meter")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "init":
            out = init(a.state, a.meter, a.key, a.start, a.unit, a.restricted)
        elif a.cmd == "add":
            out = issue(a.state, a.meter, minor=a.minor, value=a.value)
        elif a.cmd == "sync":
            out = issue(a.state, a.meter, kind="sync")
        else:
            m = load(a.state)["meters"].get(a.meter)
            if m is None:
                raise ValueError("unknown meter %s" % a.meter)
            out = {k: m[k] for k in ("start", "unit", "count", "restricted")}
            out["issued"] = m["issued"][-10:]
    except ValueError as e:
        print("tokens: %s" % e, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
