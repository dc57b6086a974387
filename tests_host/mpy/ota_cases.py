# Runs update cases made on the host (tests_host/test_ota_interop.py) through the firmware's
# real OTA code on the MicroPython unix port: `micropython ota_cases.py CASES.jsonl`.
# One JSON object per line:
#   {"id": ..., "mode": "rsa", "pub": hex, "digest": hex, "sig": hex}            -> rsa.verify
#   {"id": ..., "mode": "update", "pub": hex, "manifest": b64, "sig": b64-or-any,
#    "files": {path: b64}, "chunk": [path, offset, xor, once] or null}         -> full pull
# Prints one line per case: "<id> <outcome>", outcome one of
#   true / false                      (rsa)
#   staged <sha256 of every staged file, hex>  refused <reason>  failed <reason>
#   op <ValueError text>  config <ValueError text>
import json
import os
import sys
from binascii import a2b_base64, unhexlify

import ota_rig as rig
from core.store import Store
from ota import hook, rsa, slots

FLASH = "casesflash"


def outcome_rsa(c):
    try:
        n = rsa.parse_pub(c["pub"])
    except ValueError as e:
        return "config %s" % e
    return "true" if rsa.verify(n, unhexlify(c["digest"]), unhexlify(c["sig"])) else "false"


def staged_digest():
    import hashlib
    h = hashlib.sha256()
    d = slots.path(FLASH, "a")
    fs = rig.files_of(d)
    for p in sorted(fs):
        h.update(p.encode())
        h.update(fs[p])
    return "".join("%02x" % b for b in h.digest())


def outcome_update(c, files):
    if slots.is_dir(FLASH):
        rig.rmtree(FLASH)
    os.mkdir(FLASH)
    app = rig.App(FLASH, Store(FLASH), pub=c["pub"])
    try:
        ota = hook.attach(app)
    except ValueError as e:
        return "config %s" % e
    m = a2b_base64(c["manifest"])
    objs = dict(files)
    for p in c.get("files", {}):
        objs[p] = a2b_base64(c["files"][p])
    objs["MANIFEST"] = m
    srv = rig.Server("u-1", objs)
    ch = c.get("chunk")
    if ch:
        done = []

        def corrupt(req, data):
            if req["f"] == ch[0] and req["o"] <= ch[1] < req["o"] + len(data) and not (ch[3] and done):
                done.append(1)
                i = ch[1] - req["o"]
                return data[:i] + bytes([data[i] ^ ch[2]]) + data[i + 1:]
        srv.corrupt = corrupt
    try:
        ota.op({"update": "u-1", "size": c.get("size", len(m)), "sig": c["sig"]}, 0)
    except ValueError as e:
        return "op %s" % e
    r = rig.pump(app, ota, srv, steps=5000)
    if r == "reboot":
        p = slots.pointer(app.store)
        return "staged %s %s" % (p["active"], staged_digest())
    last = ota.rec.get("last") or {}
    if slots.pointer(app.store)["trial"]:
        return "switched-without-reboot"
    return "%s %s" % (last.get("status"), last.get("reason"))


def main(path):
    files = {}
    with open(path) as f:
        for line in f:
            c = json.loads(line)
            if c["mode"] == "files":
                for p in c["files"]:
                    files[p] = a2b_base64(c["files"][p])
                continue
            if c["mode"] == "rsa":
                out = outcome_rsa(c)
            else:
                out = outcome_update(c, files)
            print(c["id"], out)
    print("cases done")


main(sys.argv[1])
