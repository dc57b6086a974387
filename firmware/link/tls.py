# TLS client context for mqtts:// (docs/protocol.md §10). The MicroPython 1.29 unix port's
# mbedTLS (3.6) is built without PEM parsing: load_verify_locations(cadata=PEM) raises
# "invalid cert" and load_cert_chain(PEM, PEM) "invalid key" (measured, tests_host/test_link_tls.py),
# so PEM files are converted to DER here; DER files pass through unchanged.
# It uses the built-in `tls` module, not `ssl`: `ssl` is a frozen Python wrapper that is not
# importable when MICROPYPATH replaces sys.path (no ".frozen" entry; every launcher here sets
# it), and its client default is CERT_NONE. tls.SSLContext.wrap_socket takes the same
# (sock, server_side, do_handshake_on_connect, server_hostname) as ssl's.
# Certificate dates are checked by mbedTLS against the device's RTC (unix port: the host
# clock, not the sim clock): an ESP32 must have its RTC set before the first TLS connect.
from binascii import a2b_base64


def der(data, what="certificate"):
    """PEM (first block) or DER bytes -> DER bytes; ValueError with the reason otherwise."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError(what + " file is empty")
    if data[:1] == b"\x30":             # DER: an ASN.1 SEQUENCE
        return bytes(data)
    start = data.find(b"-----BEGIN ")
    if start < 0:
        raise ValueError(what + " is neither PEM nor DER")
    body = data.find(b"\n", start)
    end = data.find(b"-----END ", body if body > 0 else start)
    if body < 0 or end < 0:
        raise ValueError(what + " PEM block is not terminated")
    b64 = b"".join(data[body + 1:end].split())
    if b":" in b64:
        raise ValueError(what + " is an encrypted PEM (use an unencrypted key)")
    try:
        out = a2b_base64(b64)
    except Exception:
        raise ValueError(what + " PEM is not valid base64")
    if out[:1] != b"\x30":
        raise ValueError(what + " PEM does not hold DER")
    return out


def context(t, read):
    """t: config.json "tls" {"ca", "cert", "key", "insecure"}; read(name) -> bytes of a file
    (relative to the flash dir). -> ssl.SSLContext. ValueError with a clear reason."""
    import tls
    if not isinstance(t, dict):
        raise ValueError("tls must be an object")
    for k in ("ca", "cert", "key"):
        if k in t and (not isinstance(t[k], str) or not t[k]):
            raise ValueError("tls." + k + " must be a file name")
    if ("cert" in t) != ("key" in t):
        raise ValueError("tls.cert and tls.key go together")
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if "ca" in t:
        ctx.verify_mode = tls.CERT_REQUIRED       # said explicitly: ssl's default is CERT_NONE
        try:
            ctx.load_verify_locations(der(read(t["ca"]), "tls.ca"))
        except OSError:
            raise ValueError("tls.ca: cannot read " + t["ca"])
    elif t.get("insecure") is True:
        ctx.verify_mode = tls.CERT_NONE
    else:
        raise ValueError("mqtts needs tls.ca (or tls.insecure: true)")
    if "cert" in t:
        try:
            cert = der(read(t["cert"]), "tls.cert")
            key = der(read(t["key"]), "tls.key")
        except OSError:
            raise ValueError("tls.cert/tls.key: cannot read the files")
        ctx.load_cert_chain(cert, key)
    return ctx
