#!/usr/bin/env python3
"""Battery-life model for the water meter (docs/water.md, "Energy budget").

Turns the firmware's measured awake time per wake, its wakes and radio sessions per day into
a projected life on one lithium cell, and says which term dominates. Every parameter has a
default with its source or stated assumption below; `python3 tools/energy_budget.py --help`.

  daily_mAh = sleep_uA * 24 h                          (deep sleep, ULP counting pulses)
            + wakes * (boot_ms + awake_ms * cpu_scale) * awake_mA   (CPU on, radio off)
            + sessions * radio_mAh[radio]              (one connect/publish/poll/close)
            + modem_psm_uA * 24 h                      (radio "sim7080g": the module in PSM)
            + valve_travels * valve_s * valve_mA       (motor)
  life_years = capacity_mAh * usable_pct / (365 * daily_mAh + capacity_mAh * self_discharge_pct_yr)
"""
import argparse
import sys

# Radio energy per session (connect, ~300 B up, poll queued commands, close), mAh at the cell.
# The board's module, a SIMCom SIM7080G (boards/esp32_water, net/cellular.py), from its
# specification (SIMCom SIM7080G product specification: PSM 3.2 uA, sleep 600 uA; the same
# figures LilyGo quotes for its T-SIM7080G board). The firmware asks for T3324 = 10 s
# (net/cellular.py): after a session the module idles that long, then enters PSM.
SIM7080G = {
    "psm_ua": 3.2,            # SIM7080G specification: PSM
    "idle_ma": 0.6,           # SIM7080G specification: sleep (DRX) current, used for T3324
    "t3324_s": 10.0,          # net/cellular.py T3324 = "00000101" (5 x 2 s)
    # RRC-connected time per session (PWRKEY wake, +CEREG/+CSQ/+CCLK, PPP, MQTT connect,
    # queued commands, outbox, state, hang-up) at an average 100 mA: an assumption, bracketed
    # by SIMCom's SIM7000 Hardware Design V1.04 LTE data current (109 mA at 10 dBm, 167 mA
    # at 23 dBm); measure it on the first board (docs/water.md).
    "active_s": 5.0,
    "active_ma": 100.0,
}


def _sim7080g_session_mah():
    m = SIM7080G
    return (m["active_s"] * m["active_ma"] + m["t3324_s"] * m["idle_ma"]) / 3600.0


RADIO_MAH = {
    "sim7080g": _sim7080g_session_mah(),
    # NB-IoT from PSM: RRC connect, uplink, a downlink poll, RRC release tail. ~0.14 mAh is
    # 5 s at 100 mA average, a conservative figure for typical modules (u-blox SARA-R4/N2,
    # Quectel BG96 datasheets: 100-250 mA during TX at 23 dBm); Nordic's nRF9160 online power
    # profiler gives far less (tens of mJ) in good coverage. Assumption, not a measurement.
    "nbiot": 0.14,
    # Wi-Fi: ESP32 association + DHCP + TCP + MQTT (no TLS) ~3 s at ~120 mA average
    # (ESP32 datasheet: 95-240 mA in RX/TX). With a TLS handshake add ~1-2 s. Assumption.
    "wifi": 0.10,
}

DEFAULTS = {
    # Li-SOCl2 D cell, 19 Ah (e.g. Tadiran TL-5930 / SL-2780 class); the target cell.
    "capacity_mah": 19000,
    # Capacity actually usable at a pit's low temperature and with pulse loads (passivation,
    # cut-off at the park threshold): an assumption, stated so it can be challenged.
    "usable_pct": 85,
    # Bobbin Li-SOCl2 self-discharge < 1 %/year at 25 C (Tadiran, Saft LS datasheets).
    "self_discharge_pct_yr": 1.0,
    # ESP32 deep sleep with RTC timer + RTC memory: 10 uA (ESP32 datasheet, power modes),
    # + ULP pulse polling at ~0.1 % duty of 150 uA, + hall switch, reed pull-ups and a
    # nano-power LDO: 20 uA in total. Assumption on top of the datasheet figure.
    "sleep_ua": 20.0,
    # CPU awake, radio off, 80 MHz: 20-31 mA (ESP32 datasheet, modem-sleep) + flash: 35 mA.
    "awake_ma": 35.0,
    # Deep-sleep wake to the first line of main.py (ROM, bootloader, MicroPython init, frozen
    # modules): ~250 ms. Assumption; a wake stub in RTC fast memory could skip most wakes.
    "boot_ms": 250.0,
    # The unix port on a PC runs MicroPython ~30x faster than an ESP32 at 160 MHz
    # (assumption from pystone-class comparisons); awake_ms measured here is scaled by it.
    "cpu_scale": 30.0,
    "awake_ms": 2.0,          # firmware time per wake, MEASURED on the unix port (bench)
    "wakes_day": 110.0,       # measured by the bench's simulated typical day
    "sessions_day": 1.0,      # measured by the bench's simulated typical day
    "radio": "sim7080g",
    "valve_travels_day": 2 / 30.0,   # the monthly exercise: close + open
    "valve_s": 6.0,           # stop-to-stop travel of a motorised ball valve (assumption)
    "valve_ma": 150.0,        # motor current while running (assumption, small DC gear motor)
}


def budget(**kw):
    """Returns (life_years, parts) where parts maps a term to mAh per day (self-discharge
    expressed per day too)."""
    p = dict(DEFAULTS)
    for k in kw:
        if k not in DEFAULTS:
            raise ValueError("unknown parameter %s" % k)
        p[k] = kw[k]
    if p["radio"] not in RADIO_MAH:
        raise ValueError("radio must be one of %s" % ", ".join(sorted(RADIO_MAH)))
    for k in DEFAULTS:
        if k != "radio" and (not isinstance(p[k], (int, float)) or isinstance(p[k], bool) or p[k] < 0):
            raise ValueError("%s must be a number >= 0" % k)
    if p["capacity_mah"] <= 0 or not 0 < p["usable_pct"] <= 100:
        raise ValueError("capacity_mah must be > 0 and usable_pct in (0, 100]")
    wake_s = (p["boot_ms"] + p["awake_ms"] * p["cpu_scale"]) / 1000.0
    parts = {
        "sleep": p["sleep_ua"] / 1000.0 * 24,
        "wakes": p["wakes_day"] * wake_s * p["awake_ma"] / 3600.0,
        "radio": p["sessions_day"] * RADIO_MAH[p["radio"]],
        "valve": p["valve_travels_day"] * p["valve_s"] * p["valve_ma"] / 3600.0,
        "modem_psm": SIM7080G["psm_ua"] / 1000.0 * 24 if p["radio"] == "sim7080g" else 0.0,
        "self_discharge": p["capacity_mah"] * p["self_discharge_pct_yr"] / 100.0 / 365.0,
    }
    per_day = sum(parts.values())
    life = p["capacity_mah"] * p["usable_pct"] / 100.0 / per_day / 365.0
    return life, parts


def report(out=None, **kw):
    out = out or sys.stdout
    life, parts = budget(**kw)
    total = sum(parts.values())
    p = dict(DEFAULTS, **kw)
    print("energy budget: %.0f mAh cell (%d %% usable), radio %s" %
          (p["capacity_mah"], p["usable_pct"], p["radio"]), file=out)
    print("  %-15s %9s %6s" % ("term", "uAh/day", "share"), file=out)
    for k in sorted(parts, key=lambda k: -parts[k]):
        print("  %-15s %9.1f %5.1f%%" % (k, parts[k] * 1000, 100.0 * parts[k] / total), file=out)
    dom = max(parts, key=lambda k: parts[k])
    print("  total           %9.1f uAh/day = %.0f mAh/year" % (total * 1000, total * 365), file=out)
    print("  projected life  %.1f years (target >= 10); dominated by %s" % (life, dom), file=out)
    return life, dom


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v) if k == "radio" else float, default=v)
    a = ap.parse_args(argv)
    kw = {k: getattr(a, k) for k in DEFAULTS}
    try:
        report(**kw)
    except ValueError as e:
        ap.error(str(e))


if __name__ == "__main__":
    main()
