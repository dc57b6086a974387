#!/usr/bin/env python3
"""Over-the-air updates, head-end side (docs/ota.md): keys, signed updates, rollouts.

  ota.py keygen DIR                       RSA-2048 key pair: DIR/ota_key.pem (private, 0600;
                                          encrypted when OTA_KEY_PASSPHRASE is set), DIR/ota_pub.hex
  ota.py build --board sim --version 1.1.0 --key KEY.pem --pub PUBDIR [--min-from 1.0.0]
                                          `make firmware BOARD=...` with that version, signed,
                                          published as PUBDIR/<update id>/
  ota.py sign BUNDLE_DIR --board ... --version ... --key KEY.pem --pub PUBDIR
                                          sign a bundle directory built earlier
  ota.py sign-image IMAGE.bin --board esp32_gas --version 2.0.0 --key KEY.pem --pub PUBDIR
                                          a whole MicroPython firmware image (esp32.Partition)
  ota.py serve PUBDIR --broker mqtt://h:p [--root meters]
                                          answer the meters' chunk requests until Ctrl-C
  ota.py rollout PUBDIR/<update id> --meters DIR [--waves 1,10,100] [--max-fail 0.1]
                                          announce in waves to the meters provisioned under DIR
                                          (one config.json each), serve the chunks, confirm each
                                          probation, halt when a wave's failures cross the limit

The private key never leaves the signing machine: the meter holds the public modulus only
(config.json "ota": {"pub": "<512 hex>"}).
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BLOCK = 4096
# at the device root, outside the A/B bundles (docs/ota.md)
BASE_FILES = ("boot.py", "main.py", "loader.py", "loader.mpy", "MANIFEST.sha256")
DEFAULTS = {"health_s": 600, "loops": 30}


# ---- keys ------------------------------------------------------------------------------
def keygen(out_dir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pw = os.environ.get("OTA_KEY_PASSPHRASE")
    enc = (serialization.BestAvailableEncryption(pw.encode()) if pw
           else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    path = out / "ota_key.pem"
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    (out / "ota_pub.hex").write_text(pub_hex(key) + "\n")
    return path, out / "ota_pub.hex"


def load_key(path):
    from cryptography.hazmat.primitives import serialization
    pw = os.environ.get("OTA_KEY_PASSPHRASE")
    return serialization.load_pem_private_key(Path(path).read_bytes(),
                                              pw.encode() if pw else None)


def pub_hex(key):
    """The meter's config.json "ota": {"pub": ...}: the modulus as 512 lowercase hex."""
    n = key.public_key().public_numbers().n
    return format(n, "0512x")


def sign(key, data):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# ---- manifests -------------------------------------------------------------------------
def header(kind_of_update, board, version, min_from, kinds=None, floor=None, health_s=None,
           loops=None, formats=None):
    h = {"type": kind_of_update, "version": version, "board": board,
         "kinds": kinds or ["electricity", "water", "gas"], "min_from": min_from,
         "health_s": health_s or DEFAULTS["health_s"], "loops": loops or DEFAULTS["loops"]}
    if floor:
        h["floor"] = floor
    if formats:
        h["formats"] = formats
    return h


def bundle_files(bundle_dir):
    d = Path(bundle_dir)
    out = []
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        if p.is_file() and rel not in BASE_FILES:
            out.append(rel)
    return sorted(out)


def bundle_manifest(bundle_dir, h):
    d = Path(bundle_dir)
    lines, total = [], 0
    for rel in bundle_files(d):
        data = (d / rel).read_bytes()
        total += len(data)
        lines.append("%s %d %s\n" % (hashlib.sha256(data).hexdigest(), len(data), rel))
    h = dict(h, files=len(lines), bytes=total)
    return head_line(h) + "".join(lines).encode()


def image_manifest(image, h):
    data = Path(image).read_bytes()
    h = dict(h, size=len(data), block=BLOCK)
    blocks = [hashlib.sha256(data[i:i + BLOCK]).hexdigest() + "\n"
              for i in range(0, len(data), BLOCK)]
    return head_line(h) + "".join(blocks).encode()


def head_line(h):
    return b"OTA1 " + json.dumps(h, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def publish(pub_dir, update_id, manifest, sig, files_from=None, image=None):
    """PUBDIR/<id>/: MANIFEST, update.json (what the `ota` command carries) and the
    payload (files/<path> or IMAGE). Nothing here is secret or trusted by the meter."""
    out = Path(pub_dir) / update_id
    out.mkdir(parents=True, exist_ok=False)
    (out / "MANIFEST").write_bytes(manifest)
    h = json.loads(manifest.split(b"\n", 1)[0][5:])
    info = {"update": update_id, "size": len(manifest), "sig": base64.b64encode(sig).decode(),
            "type": h["type"], "version": h["version"], "board": h["board"]}
    (out / "update.json").write_text(json.dumps(info, indent=1) + "\n")
    if files_from is not None:
        for rel in bundle_files(files_from):
            dst = out / "files" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes((Path(files_from) / rel).read_bytes())
    if image is not None:
        (out / "IMAGE").write_bytes(Path(image).read_bytes())
    return out


def update_id(version, board):
    return "%s-%s-%d" % (version, board, int(time.time() * 1000) % 10 ** 12)


def sign_bundle(bundle_dir, key, pub_dir, board, version, min_from="0.0.0", uid=None, **kw):
    m = bundle_manifest(bundle_dir, header("bundle", board, version, min_from, **kw))
    return publish(pub_dir, uid or update_id(version, board), m, sign(key, m), files_from=bundle_dir)


def sign_image(image, key, pub_dir, board, version, min_from="0.0.0", uid=None, **kw):
    m = image_manifest(image, header("firmware", board, version, min_from, **kw))
    return publish(pub_dir, uid or update_id(version, board), m, sign(key, m), image=image)


def build(board, version, key, pub_dir, **kw):
    import build_firmware
    with tempfile.TemporaryDirectory() as tmp:
        out, _ = build_firmware.build(board, Path(tmp) / board, version=version)
        return sign_bundle(out, key, pub_dir, board, version, **kw)


# ---- command line ----------------------------------------------------------------------
def _common(p):
    p.add_argument("--board", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--key", required=True, help="the private key (PEM) from keygen")
    p.add_argument("--pub", required=True, help="publish directory")
    p.add_argument("--min-from", default="0.0.0", help="oldest running version it upgrades")
    p.add_argument("--floor", help="anti-rollback floor the meter adopts on commit")
    p.add_argument("--kinds", help="comma-separated meter kinds (default all)")
    p.add_argument("--health-s", type=int, help="probation window (default 600)")
    p.add_argument("--loops", type=int, help="clean loop passes on probation (default 30)")
    p.add_argument("--id", help="update id (default <version>-<board>-<ms>)")


def _kw(a):
    return {"min_from": a.min_from, "floor": a.floor, "uid": a.id,
            "kinds": a.kinds.split(",") if a.kinds else None, "health_s": a.health_s,
            "loops": a.loops}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("keygen").add_argument("dir")
    p = sub.add_parser("build")
    _common(p)
    p = sub.add_parser("sign")
    p.add_argument("bundle")
    _common(p)
    p = sub.add_parser("sign-image")
    p.add_argument("image")
    _common(p)
    p = sub.add_parser("serve")
    p.add_argument("pubdir")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--root", default="meters")
    p = sub.add_parser("rollout")
    p.add_argument("update")
    p.add_argument("--meters", required=True, help="directory of provisioned meter dirs")
    p.add_argument("--broker")
    p.add_argument("--root", default="meters")
    p.add_argument("--waves", default="1,10,100", help="cumulative percentages")
    p.add_argument("--max-fail", type=float, default=0.1, help="halt above this failed fraction of a wave")
    p.add_argument("--wave-timeout", type=float, default=900.0)
    a = ap.parse_args(argv)
    if a.cmd == "keygen":
        k, p = keygen(a.dir)
        print("private key %s (keep it offline); public key for config.json in %s" % (k, p))
        return 0
    if a.cmd in ("build", "sign", "sign-image"):
        key = load_key(a.key)
        if a.cmd == "build":
            out = build(a.board, a.version, key, a.pub, **_kw(a))
        elif a.cmd == "sign":
            out = sign_bundle(a.bundle, key, a.pub, a.board, a.version, **_kw(a))
        else:
            out = sign_image(a.image, key, a.pub, a.board, a.version, **_kw(a))
        print("published %s" % out)
        return 0
    import ota_rollout
    if a.cmd == "serve":
        return ota_rollout.serve_forever(a.pubdir, a.broker, a.root)
    meters = ota_rollout.meters_in(a.meters)
    broker = a.broker or next(iter(meters.values()))["broker"]
    waves = [float(x) for x in a.waves.split(",")]
    r = ota_rollout.Rollout(broker, a.root, a.update, meters, waves, a.max_fail, a.wave_timeout,
                            log=lambda s: print(s, flush=True))
    res = r.run()
    print(json.dumps(res, indent=1))
    return 0 if res["result"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
