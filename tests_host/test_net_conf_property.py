"""config.json "net" (firmware/net/netconf.py, plain Python: run here under CPython with
hypothesis). Any JSON value either parses to a complete, valid interface description or is
refused with ValueError("invalid config.json: net: ..."); nothing else escapes, and a valid
value keeps what was given."""
import os
import sys

from hypothesis import given, settings, strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT / "firmware"))
from net import netconf  # noqa: E402

N = int(os.environ.get("HYPOTHESIS_EXAMPLES", "300"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=70),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=12)
keys = st.sampled_from(["ssid", "password", "ntp", "ntp_host", "apn", "rat", "pin", "psm",
                        "edrx", "bands", "reg_timeout_s", "user", "x"])
near = st.dictionaries(keys, json_values | st.sampled_from(
    ["meters", "nbiot", "catm", "lte", "1234", "0101", [3, 8], 180, True, "a" * 8]), max_size=6)


def check(net, default):
    try:
        kind, o = netconf.parse(net, default)
    except ValueError as e:
        assert str(e).startswith("invalid config.json: net: "), str(e)
        return
    assert kind in ("wifi", "cellular", "host")
    if kind == "wifi":
        assert 1 <= len(o["ssid"]) <= 32 and (o["password"] == "" or 8 <= len(o["password"]) <= 64)
        assert o["ssid"] == net["wifi"]["ssid"]
    elif kind == "cellular":
        src = (net or default)["cellular"]
        assert o["rat"] in netconf.RATS and 10 <= o["reg_timeout_s"] <= 3600
        assert o["apn"] == src.get("apn", "") and o["pin"] == src.get("pin")
        assert not any(c in o["apn"] for c in '",\r\n')


@settings(max_examples=N, deadline=None)
@given(json_values, st.sampled_from([None, "host", {"cellular": {"rat": "nbiot"}}]))
def test_any_json_value(net, default):
    check(net, default)


@settings(max_examples=N, deadline=None)
@given(st.sampled_from(["wifi", "cellular"]), near)
def test_near_valid_objects(kind, body):
    check({kind: body}, None)
