"""Signatures made by the `cryptography` library verify on the meter (MicroPython big-int RSA,
firmware/ota/rsa.py), and generated corruptions of the manifest, the signature, the key and
the chunks are never installed: each case runs through the firmware's real OTA code on the
real MicroPython port (tests_host/mpy/ota_cases.py). OTA_CORRUPTIONS scales the number of
generated corruptions (default 400; at least 300 are always made)."""
import base64
import hashlib
import json
import os
import random

import pytest

import ota_support as sup
from conftest import ROOT

N = max(300, int(os.environ.get("OTA_CORRUPTIONS", "400")))
FILES = {"app.py": b"FW = '1.1.0'\n" + b"# app\n" * 150,
         "pkg/alpha.py": bytes(range(256)) * 9,
         "pkg/beta.py": b"beta = 1\n" * 300,
         "zeta.py": b"z" * 1024}


def b64(b):
    return base64.b64encode(b).decode()


def pub(k):
    return format(k.public_key().public_numbers().n, "0512x")


def genuine_manifest(tmp_path, **hdr):
    d = tmp_path / "bundle"
    for p, data in FILES.items():
        (d / p).parent.mkdir(parents=True, exist_ok=True)
        (d / p).write_bytes(data)
    h = sup.ota.header("bundle", hdr.pop("board", "sim"), hdr.pop("version", "1.1.0"),
                       hdr.pop("min_from", "1.0.0"), health_s=60, loops=3, **hdr)
    return sup.ota.bundle_manifest(d, h)


def staged_digest(m):
    """What tests_host/mpy/ota_cases.py prints for a slot holding exactly FILES and m."""
    h = hashlib.sha256()
    for p in sorted(list(FILES) + ["OTA_MANIFEST"]):
        h.update(p.encode())
        h.update(hashlib.sha256(m if p == "OTA_MANIFEST" else FILES[p]).digest())
    return h.hexdigest()


def resign(k, m):
    return b64(sup.ota.sign(k, m))


def mutate_header(m, fn):
    head, rest = m.split(b"\n", 1)
    h = json.loads(head[5:])
    fn(h)
    return b"OTA1 " + json.dumps(h, separators=(",", ":")).encode() + b"\n" + rest


def mutate_lines(m, fn):
    head, rest = m.split(b"\n", 1)
    lines = rest.decode().splitlines(True)
    lines = fn(lines)
    return head + b"\n" + "".join(lines).encode()


def cases(tmp_path, rng):
    k, other = sup.key(), sup.key("other")
    P = pub(k)
    m = genuine_manifest(tmp_path)
    sig = sup.ota.sign(k, m)
    out = [{"mode": "files", "files": {p: b64(d) for p, d in FILES.items()}}]

    def upd(kind, expect, manifest=m, s=None, pubkey=P, **kw):
        c = {"mode": "update", "kind": kind, "expect": expect, "pub": pubkey,
             "manifest": b64(manifest), "sig": s if s is not None else b64(sig)}
        c.update(kw)
        out.append(c)

    for _ in range(3):
        upd("genuine", "staged")
    # the manifest changed after signing: bits, truncation, extension, swapped lines
    for _ in range(N * 30 // 100):
        b = bytearray(m)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        upd("manifest_bits", "refused bad_signature", bytes(b))
    for _ in range(N * 5 // 100):
        cut = rng.randrange(64, len(m))
        upd("manifest_cut", "refused bad_signature", m[:cut])
        upd("manifest_extra", "refused bad_signature", m + bytes([rng.randrange(256)]) * rng.randint(1, 40))
    upd("manifest_lines_swapped", "refused bad_signature", mutate_lines(m, lambda ls: ls[::-1]))
    # signed by the key, but wrong inside: each refused with a reason, or its files do not match
    bad_headers = [
        ("type", "image"), ("version", "1.1"), ("version", "x.y.z"), ("min_from", 5), ("kinds", []),
        ("kinds", ["steam"]), ("board", ""), ("health_s", 1), ("health_s", "600"), ("loops", 0),
        ("files", 0), ("files", 5), ("bytes", 1), ("formats", {"prepay": [2]}),
        ("floor", "9.9.9")]
    for f, v in bad_headers:
        mm = mutate_header(m, lambda h: h.__setitem__(f, v))
        upd("signed_bad_header", "refused", mm, resign(k, mm))
    for f in ("type", "version", "board", "kinds", "min_from", "health_s", "loops", "files", "bytes"):
        mm = mutate_header(m, lambda h: h.pop(f))
        upd("signed_missing_field", "refused", mm, resign(k, mm))
    for f, v, why in (("board", "esp32_gas", "wrong_board"), ("kinds", ["gas"], "wrong_kind"),
                      ("version", "1.0.0", "not_newer"), ("min_from", "1.0.5", "from_too_old")):
        mm = mutate_header(m, lambda h: h.__setitem__(f, v))
        upd("signed_not_for_me", "refused " + why, mm, resign(k, mm))
    line_edits = [
        lambda ls: ls[1:],                                          # a file missing: counts
        lambda ls: ls + [ls[0]],                                    # a duplicate
        lambda ls: [ls[1], ls[0]] + ls[2:],                         # not ascending
        lambda ls: [ls[0].replace("app.py", "../app.py")] + ls[1:],
        lambda ls: [ls[0].replace("app.py", "/app.py")] + ls[1:],
        lambda ls: [ls[0].replace("app.py", "main.py")] + ls[1:],
        lambda ls: [ls[0][:10] + "G" + ls[0][11:]] + ls[1:],        # not hex
        lambda ls: [ls[0].replace(" ", "  ", 1)] + ls[1:],
        lambda ls: [ls[0].rstrip("\n")] + ls[1:],
        lambda ls: [l.replace("app.py", "app2.py") for l in ls],    # no app module
        lambda ls: ls + ["trailing\n"],
    ]
    for fn in line_edits:
        mm = mutate_lines(m, fn)
        upd("signed_bad_entry", "refused bad_manifest", mm, resign(k, mm))
    for _ in range(N * 5 // 100):
        # a valid-looking entry whose hash or size is not the file's: the pull catches it
        def wrong(ls):
            i = rng.randrange(len(ls))
            h, size, p = ls[i].split(" ")
            if rng.random() < 0.5:
                h = "%064x" % rng.getrandbits(256)
            else:
                size = str(int(size) + rng.choice((-1, 1, 7)))
            return ls[:i] + ["%s %s %s" % (h, size, p)] + ls[i + 1:]
        mm = mutate_lines(m, wrong)
        upd("signed_wrong_digest", "failed|refused", mm, resign(k, mm))
    # the signature
    n = k.public_key().public_numbers().n
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    for _ in range(N * 20 // 100):
        s = bytearray(sig)
        s[rng.randrange(256)] ^= 1 << rng.randrange(8)
        upd("sig_bits", "refused bad_signature", s=b64(bytes(s)))
    for s in (b"\x00" * 256, b"\xff" * 256, n.to_bytes(256, "big"), (n + 1).to_bytes(256, "big"),
              (n - 1).to_bytes(256, "big"), (1).to_bytes(256, "big"),
              sup.ota.sign(other, m), sup.ota.sign(k, m + b"\n"),
              k.sign(m, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
              k.sign(m, padding.PKCS1v15(), hashes.SHA1()),
              k.sign(m, padding.PKCS1v15(), hashes.SHA512())):
        upd("sig_wrong", "refused bad_signature", s=b64(s))
    for _ in range(N * 5 // 100):
        upd("sig_random", "refused bad_signature", s=b64(bytes(rng.getrandbits(8) for _ in range(256))))
    for s in (b64(sig)[:-4], b64(sig) + "AAAA", "", "!" * 344, "=" * 344, b64(sig)[:343] + "*"):
        upd("sig_garbled", "op|refused bad_signature", s=s)
    # the key the meter holds
    upd("key_other", "refused bad_signature", pubkey=pub(other))
    for _ in range(N * 5 // 100):
        p = list(P)
        i = rng.randrange(1, 511)
        p[i] = "0123456789abcdef"[(int(p[i], 16) + rng.randrange(1, 16)) % 16]
        upd("key_digit", "refused bad_signature", pubkey="".join(p))
    for p in (P[:-2], P.upper(), "f" * 511 + "e", "0" + P[1:], P + "00", "g" * 512):
        upd("key_invalid", "config", pubkey=p)
    # the chunks on the wire
    paths = sorted(FILES)
    for _ in range(N * 20 // 100):
        p = rng.choice(paths)
        upd("chunk_persistent", "failed bad_data",
            chunk=[p, rng.randrange(len(FILES[p])), 1 << rng.randrange(8), False])
    for _ in range(N * 5 // 100):
        p = rng.choice(paths)
        upd("chunk_transient", "staged",
            chunk=[p, rng.randrange(len(FILES[p])), 1 << rng.randrange(8), True])
    for _ in range(N * 3 // 100):
        p = rng.choice(paths)
        short = FILES[p][:rng.randrange(len(FILES[p]))]
        upd("file_short", "failed", files={p: b64(short)})
        same = bytearray(FILES[p])
        same[rng.randrange(len(same))] ^= 0x80
        upd("file_swapped", "failed bad_data", files={p: b64(bytes(same))})
    upd("manifest_size_short", "refused bad_signature", size=len(m) - 1)
    for i, c in enumerate(out):
        c["id"] = "c%04d" % i
    # plain RSA interop: library signatures over random messages
    for i in range(60):
        msg = rng.getrandbits(8 * rng.randint(0, 300)).to_bytes(300, "big")[:rng.randint(0, 300)]
        s = sup.ota.sign(k, msg)
        bad = bytearray(s)
        bad[rng.randrange(256)] ^= 1
        d = hashlib.sha256(msg).hexdigest()
        out.append({"id": "r%03da" % i, "mode": "rsa", "pub": P, "digest": d, "sig": s.hex(), "expect": "true"})
        out.append({"id": "r%03db" % i, "mode": "rsa", "pub": P, "digest": d, "sig": bytes(bad).hex(),
                    "expect": "false"})
    return out, staged_digest(m)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return sup.build(tmp_path_factory.mktemp("b") / "sim", "1.0.0")


def test_library_signatures_verify_and_corruptions_never_install(tmp_path, bundle):
    rng = random.Random(int(os.environ.get("OTA_SEED", "15")))
    cs, want = cases(tmp_path, rng)
    corruptions = [c for c in cs if c.get("kind") not in (None, "genuine", "chunk_transient")]
    assert len(corruptions) >= 300, len(corruptions)
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cs))
    r = sup.run_mpy("ota_cases.py", [path], heap="256k", cwd=tmp_path, path=bundle, timeout=600)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("cases done"), r.stdout[-3000:] + r.stderr
    got = dict(l.split(" ", 1) for l in r.stdout.splitlines() if l[:1] in "cr" and " " in l)
    genuine = None
    wrong = []
    for c in cs:
        if c["mode"] == "files":
            continue
        o = got.get(c["id"])
        e = c["expect"]
        if c.get("kind") == "genuine":
            genuine = genuine or o
        ok = o is not None and any(o.startswith(x) for x in e.split("|"))
        if o and o.startswith("staged") and c.get("kind") not in ("genuine", "chunk_transient"):
            ok = False                      # a corruption was installed
        if not ok:
            wrong.append((c["id"], c.get("kind"), e, o))
    assert not wrong, "\n".join(map(str, wrong[:30]))
    assert genuine == "staged a " + want, (genuine, want)
    staged = {got[c["id"]] for c in cs if c.get("kind") in ("genuine", "chunk_transient")}
    assert staged == {genuine}, "a transient chunk error installs exactly the genuine files"
    kinds = {}
    for c in corruptions:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print("corruptions per kind:", kinds, "total", len(corruptions))
