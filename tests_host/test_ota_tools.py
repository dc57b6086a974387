"""tools/ota.py and tools/ota_rollout.py on CPython: keys, manifests, signatures, the publish
layout, and the chunk server's refusal to serve anything outside a published update."""
import base64
import json
import os
import stat
import sys

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import ota  # noqa: E402
import ota_rollout  # noqa: E402
import ota_support as sup  # noqa: E402


def test_keygen_private_key_is_owner_only_and_pub_is_the_modulus(tmp_path, monkeypatch):
    monkeypatch.setenv("OTA_KEY_PASSPHRASE", "correct horse")
    k, p = ota.keygen(tmp_path / "keys")
    assert stat.S_IMODE(os.stat(k).st_mode) == 0o600
    assert b"ENCRYPTED" in k.read_bytes()
    key = ota.load_key(k)
    h = p.read_text().strip()
    assert len(h) == 512 and int(h, 16) == key.public_key().public_numbers().n
    with pytest.raises(FileExistsError):
        ota.keygen(tmp_path / "keys")           # never overwrites a key
    monkeypatch.setenv("OTA_KEY_PASSPHRASE", "wrong")
    with pytest.raises(ValueError):
        ota.load_key(k)


def test_signed_bundle_publishes_what_the_meter_needs(tmp_path):
    k = sup.key()
    b = tmp_path / "bundle"
    for p, data in {"app.mpy": b"A" * 3000, "core/x.mpy": b"x", "boot.py": b"boot",
                    "main.py": b"main", "loader.py": b"l", "MANIFEST.sha256": b"m"}.items():
        (b / p).parent.mkdir(parents=True, exist_ok=True)
        (b / p).write_bytes(data)
    out = ota.sign_bundle(b, k, tmp_path / "pub", "sim", "1.2.3", min_from="1.0.0", uid="u-1",
                          health_s=90, loops=7)
    info = json.loads((out / "update.json").read_text())
    m = (out / "MANIFEST").read_bytes()
    assert info["size"] == len(m) and info["update"] == "u-1"
    head, rest = m.split(b"\n", 1)
    h = json.loads(head[5:])
    assert (h["type"], h["version"], h["files"], h["bytes"], h["health_s"], h["loops"]) == \
        ("bundle", "1.2.3", 2, 3001, 90, 7)
    assert [l.split(" ")[2] for l in rest.decode().splitlines()] == ["app.mpy", "core/x.mpy"]
    assert sorted(p.relative_to(out / "files").as_posix() for p in (out / "files").rglob("*")
                  if p.is_file()) == ["app.mpy", "core/x.mpy"], "boot/main/loader stay outside"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    k.public_key().verify(base64.b64decode(info["sig"]), m, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(FileExistsError):
        ota.sign_bundle(b, k, tmp_path / "pub", "sim", "1.2.3", uid="u-1")


def test_image_manifest_hashes_every_4k_block(tmp_path):
    img = tmp_path / "fw.bin"
    img.write_bytes(bytes(range(256)) * 40 + b"\xe9")         # 10241 bytes: 3 blocks
    out = ota.sign_image(img, sup.key(), tmp_path / "pub", "esp32_gas", "2.0.0", uid="fw-1")
    head, rest = (out / "MANIFEST").read_bytes().split(b"\n", 1)
    h = json.loads(head[5:])
    assert (h["type"], h["size"], h["block"]) == ("firmware", 10241, 4096)
    assert len(rest.splitlines()) == 3 and all(len(l) == 64 for l in rest.splitlines())


class _Msg:
    def __init__(self, topic, payload):
        self.topic, self.payload = topic, payload


class _Client:
    def __init__(self):
        self.out = []

    def publish(self, topic, payload, qos=0):
        self.out.append((topic, payload))


def _server(tmp_path):
    out = ota.sign_bundle(_bundle(tmp_path), sup.key(), tmp_path / "pub", "sim", "1.1.0", uid="u-1")
    (tmp_path / "secret").write_text("key material")
    s = ota_rollout.ChunkServer.__new__(ota_rollout.ChunkServer)
    s.pub, s.root, s.chunks, s.bytes, s.wire, s.drop = (tmp_path / "pub").resolve(), "meters", 0, 0, 0, None
    return s, out


def _bundle(tmp_path):
    b = tmp_path / "b"
    (b / "core").mkdir(parents=True, exist_ok=True)
    (b / "app.mpy").write_bytes(b"A" * 2500)
    (b / "core" / "x.mpy").write_bytes(b"x" * 10)
    return b


def _ask(s, req, meter="m-1"):
    c = _Client()
    s._on(c, None, _Msg("meters/%s/ota/get" % meter, json.dumps(req).encode()))
    if not c.out:
        return None
    topic, payload = c.out[0]
    assert topic == "meters/%s/ota/data" % meter
    head, data = payload.split(b"\n", 1)
    return json.loads(head), data


def test_chunk_server_serves_slices_and_nothing_outside(tmp_path):
    s, out = _server(tmp_path)
    h, d = _ask(s, {"u": "u-1", "f": "app.mpy", "o": 1024, "n": 1024})
    assert (h, d) == ({"u": "u-1", "f": "app.mpy", "o": 1024}, b"A" * 1024)
    h, d = _ask(s, {"u": "u-1", "f": "MANIFEST", "o": 0, "n": 5})
    assert d == b"OTA1 "
    for f in ("../secret", "../../secret", "/etc/passwd", "core/../../u-1/update.json", "nope.mpy"):
        h, d = _ask(s, {"u": "u-1", "f": f, "o": 0, "n": 10})
        assert h.get("err") == "not_found" and d == b"", f
    for u in ("u-2", "../pub", "", "u-1/../u-1"):
        h, d = _ask(s, {"u": u, "f": "app.mpy", "o": 0, "n": 10})
        assert h.get("err") == "not_found", u
    for bad in ({"u": "u-1", "f": "app.mpy", "o": 0, "n": 1025}, {"u": "u-1", "f": "app.mpy", "o": -1, "n": 1},
                {"u": "u-1", "f": "app.mpy", "o": 0}, {"u": "u-1", "f": "app.mpy", "o": "0", "n": 1}):
        assert _ask(s, bad) is None, bad


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")), deadline=None)
@given(st.text(max_size=40), st.integers(-5, 5000), st.integers(-5, 2000))
def test_chunk_server_never_serves_outside_the_update(tmp_path_factory, f, o, n):
    tmp = tmp_path_factory.mktemp("srv")
    s, out = _server(tmp)
    r = _ask(s, {"u": "u-1", "f": f, "o": o, "n": n})
    if r is None:
        return
    h, d = r
    if "err" not in h:
        p = (out / ("files/" + f) if f not in ("MANIFEST", "IMAGE") else out / f).resolve()
        assert out.resolve() in p.parents
        assert d == p.read_bytes()[o:o + n]
