"""Defects found by attacking the merged firmware at the seams between its parts (OTA x money,
the board clock x safety and billing, network bring-up x a hostile modem or network, config
x reboots, flash faults), each proven on the real `micropython` unix port by one test of a
rig script in tests_host/mpy/attack_*.py.

Open defects are xfail(strict=True) with the defect as the reason: a fix makes the test pass,
which fails the run until its mark goes and it stays as a regression test. Defects fixed on
this branch are plain regression tests."""
import pytest

from conftest import run_mpy, script_heap, ROOT

MPY = ROOT / "tests_host" / "mpy"


def rig(script, test, firmware_path, tmp_path):
    """Run one test of a rig script at the heap the script declares; assert it passed."""
    r = run_mpy([MPY / script, test], heap=script_heap(MPY / script, "128k"),
                cwd=tmp_path, timeout=120,
                env={"MICROPYPATH": firmware_path})
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout, out


# ---- network bring-up x a hostile modem or network (fixed here) ---------------------------

def test_modem_endless_reply_lines_stay_bounded(firmware_path, tmp_path):
    # was: AtPort kept every information line of a reply until its final result code, so a
    # modem streaming lines during ATD's 30 s window raised MemoryError at 512 lines in a
    # 64 KiB heap (it starves the metering loop, not only the radio)
    rig("attack_net.py", "test_modem_endless_reply_lines_stay_bounded", firmware_path, tmp_path)


def test_modem_endless_prefixed_lines_stay_bounded(firmware_path, tmp_path):
    rig("attack_net.py", "test_modem_endless_prefixed_lines_stay_bounded", firmware_path, tmp_path)


def test_ntp_short_reply_is_a_failed_query_not_a_link_drop(firmware_path, tmp_path):
    # was: ntptime's ValueError on a reply under 44 bytes escaped Wifi.service; app_net then
    # reported net_fault and closed the link, and the query (not rescheduled) ran again at
    # the next idle pass: one spoofed UDP datagram per query kept the meter offline
    rig("attack_net.py", "test_ntp_short_reply_is_a_failed_query_not_a_link_drop",
        firmware_path, tmp_path)


# ---- board clock x billing -----------------------------------------------------------------

@pytest.mark.xfail(strict=True, reason="an unsynced clock (every power cut on an ESP32 clears "
                   "RTC memory) takes any forward step from unauthenticated network time "
                   "(net/timesync.py offer, docs/field-guide.md 'The clock'): one spoofed NTP "
                   "reply or fake-cell NITZ sets 2099, marks the clock synced, and the signed "
                   "`time` op can never bring it back (hal/rtc_clock.py set_now refuses any "
                   "step back over 300 s and holds the wall clock still): commands with `exp` "
                   "expire, TOU bands and calendars shift for good, 62 days of standing charge")
def test_unauthenticated_time_cannot_strand_the_clock_in_the_future(firmware_path, tmp_path):
    rig("attack_net.py", "test_unauthenticated_time_cannot_strand_the_clock_in_the_future",
        firmware_path, tmp_path)


@pytest.mark.xfail(strict=True, reason="the board clock's floor (the `clock` record, app.py) is "
                   "written only by the clean shutdown (app_safety.py), never while running: "
                   "after a power cut that loses the RTC (an ESP32 without a backup cell; the "
                   "sim board's sim_start) the wall clock restarts at the last clean shutdown "
                   "or at the RTC's epoch, days behind what the ledger has billed; a recharge "
                   "then takes a daily debt-recovery cap that was already spent "
                   "(credit.on_recharge restarts a cap period index more than one period "
                   "ahead of now); TOU bands and `exp` are judged at the old time too")
def test_power_cut_never_moves_the_clock_back_nor_reopens_a_spent_debt_cap(firmware_path, tmp_path):
    rig("attack_app.py", "test_power_cut_never_moves_the_clock_back_nor_reopens_a_spent_debt_cap",
        firmware_path, tmp_path)


# ---- OTA x flash faults (fixed here) -------------------------------------------------------

def test_probation_rollback_on_a_full_flash_still_boots(firmware_path, tmp_path):
    # was: Ota.__init__ ran Trial.on_boot uncontained; with the flash full (ENOSPC on every
    # write) the rollback's record write raised out of App(), so the good bundle could not
    # start either (minimal mode builds the same App): no metering, a latching relay left
    # as it was. Without OTA the same full flash is contained (storage_fault, `storage` acks).
    rig("attack_app.py", "test_probation_rollback_on_a_full_flash_still_boots",
        firmware_path, tmp_path)


@pytest.mark.xfail(strict=True, reason="a prepay record in a newer format than the bundle "
                   "reads is refused and rebuilt fresh (balance 0, store_recovery) when "
                   "config.json has no \"ota\" object: app.py runs ota/formats.migrate, the "
                   "only check that stops the start instead (docs/ota.md §6), only with OTA "
                   "configured, so a bundle put back by cable (`make deploy`) loses the money")
def test_newer_prepay_record_stops_the_start_without_ota_config_too(firmware_path, tmp_path):
    rig("attack_app.py", "test_newer_prepay_record_stops_the_start_without_ota_config_too",
        firmware_path, tmp_path)


def test_time_op_during_probation_does_not_end_the_health_window(firmware_path, tmp_path):
    # was: ota/trial.py measured health_s on the wall clock (now_s - t0): a signed `time` op
    # of +1 day (allowed once synced), or network time, rolled a healthy bundle back at the
    # next loop pass as health_timeout:round_trip,loops
    rig("attack_app.py", "test_time_op_during_probation_does_not_end_the_health_window",
        firmware_path, tmp_path)


@pytest.mark.xfail(strict=True, reason="the keypad lockout (paygo/entry.py lock_until_s) runs "
                   "on the wall clock: a clock step forward (NTP's 900 s on a synced meter, "
                   "any step while unsynced after a power cut, a signed `time` op) ends it at "
                   "once, so guesses are limited by how far the clock can be pushed, not by "
                   "time waited; anti-guessing timers belong on the monotonic clock with the "
                   "remaining time persisted (as protection.Recloser keeps ages)")
def test_keypad_lockout_is_not_shortened_by_a_clock_step(firmware_path, tmp_path):
    rig("attack_app.py", "test_keypad_lockout_is_not_shortened_by_a_clock_step",
        firmware_path, tmp_path)
