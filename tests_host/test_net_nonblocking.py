"""The network code never blocks the metering loop (docs/porting.md "Network"). The virtual
time test (tests_host/mpy/test_app_net_instant.py) catches a wait on the board clock; this
catches a real-time one: no sleep and no socket timeout in firmware/net/ or app_net.py,
and the one blocking call there is (ntptime.time(), bounded by ntptime.timeout) runs only
inside the idle budget the app gives it."""
import re

from conftest import ROOT

NET = sorted((ROOT / "firmware" / "net").glob("*.py")) + [ROOT / "firmware" / "app_net.py"]


def test_no_sleep_or_blocking_socket_in_network_code():
    for p in NET:
        src = p.read_text()
        code = "\n".join(l.split("#", 1)[0] for l in src.splitlines())
        for pat in (r"\bsleep(_ms|_us)?\s*\(", r"settimeout\s*\(", r"setblocking\s*\(\s*True",
                    r"\.recv\s*\(", r"\.accept\s*\(", r"wait_msg\s*\("):
            assert not re.search(pat, code), "%s: %s" % (p.name, pat)


def test_the_one_blocking_call_is_behind_the_idle_budget():
    src = (ROOT / "firmware" / "net" / "wifi.py").read_text()
    calls = [l for l in src.splitlines() if "self.ntp.time()" in l]
    assert len(calls) == 1
    body = src[src.index("def _maybe_ntp"):src.index("self.ntp.time()")]
    assert "idle_ms < NTP_BUDGET_MS" in body
    budget = int(re.search(r"NTP_BUDGET_MS = const\((\d+)\)", src).group(1))
    timeout_s = float(re.search(r"NTP_TIMEOUT_S = ([\d.]+)", src).group(1))
    assert timeout_s * 1000 < budget
