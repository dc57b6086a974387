"""The water meter's battery-life model (tools/energy_budget.py)."""
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import energy_budget as eb  # noqa: E402


def test_hand_computed_day():
    life, parts = eb.budget(sleep_ua=10.0, wakes_day=96.0, boot_ms=250.0, awake_ms=0.0,
                            awake_ma=40.0, sessions_day=1.0, radio="wifi",
                            valve_travels_day=0.0, self_discharge_pct_yr=0.0,
                            capacity_mah=19000, usable_pct=100)
    assert parts["sleep"] == pytest.approx(0.24)
    assert parts["wakes"] == pytest.approx(96 * 0.25 * 40 / 3600)
    assert parts["radio"] == pytest.approx(0.10)
    assert life == pytest.approx(19000 / (0.24 + 96 * 0.25 * 40 / 3600 + 0.10) / 365)


def test_defaults_meet_the_ten_year_target():
    life, parts = eb.budget()
    assert life >= 10


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 500), st.floats(0, 500), st.floats(0, 50), st.floats(0, 24))
def test_more_current_or_sessions_never_lengthens_life(sleep_ua, extra, sessions, extra_s):
    a, _ = eb.budget(sleep_ua=sleep_ua, sessions_day=sessions)
    b, _ = eb.budget(sleep_ua=sleep_ua + extra, sessions_day=sessions + extra_s)
    assert b <= a + 1e-9


@pytest.mark.parametrize("kw", [{"radio": "lora"}, {"sleep_ua": -1}, {"capacity_mah": 0},
                                {"usable_pct": 0}, {"usable_pct": 101}, {"nope": 1},
                                {"wakes_day": "96"}, {"awake_ma": True}])
def test_bad_parameters_rejected(kw):
    with pytest.raises(ValueError):
        eb.budget(**kw)


def test_report_names_the_dominant_term(capsys):
    life, dom = eb.report(sleep_ua=200.0)
    assert dom == "sleep"
    assert "dominated by sleep" in capsys.readouterr().out


def test_sim7080g_terms_from_its_figures():
    life, parts = eb.budget(radio="sim7080g", sessions_day=2.0)
    m = eb.SIM7080G
    assert parts["modem_psm"] == pytest.approx(m["psm_ua"] * 24 / 1000)
    assert parts["radio"] == pytest.approx(2 * (m["active_s"] * m["active_ma"] +
                                                m["t3324_s"] * m["idle_ma"]) / 3600)
    _, other = eb.budget(radio="nbiot", sessions_day=2.0)
    assert other["modem_psm"] == 0
