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

def test_unauthenticated_time_cannot_strand_the_clock_in_the_future(firmware_path, tmp_path):
    # was: an unsynced clock (every power cut on an ESP32) took any forward step from NTP or
    # the cell's time: one spoofed reply set 2099, and the signed `time` op could never
    # bring it back (at most 300 s back, held still)
    rig("attack_net.py", "test_unauthenticated_time_cannot_strand_the_clock_in_the_future",
        firmware_path, tmp_path)


def test_spoofed_time_within_the_bound_is_undone_by_the_signed_time_op(firmware_path, tmp_path):
    rig("attack_net.py", "test_spoofed_time_within_the_bound_is_undone_by_the_signed_time_op",
        firmware_path, tmp_path)


def test_power_cut_never_moves_the_clock_back_nor_reopens_a_spent_debt_cap(firmware_path, tmp_path):
    # was: the `clock` record (the floor the board clock restarts at when the RTC is lost)
    # was written only at a clean shutdown, so a power cut set the clock back days; and a
    # recharge restarted a debt-cap period whose index was more than one period ahead
    rig("attack_app.py", "test_power_cut_never_moves_the_clock_back_nor_reopens_a_spent_debt_cap",
        firmware_path, tmp_path)


def test_signed_step_back_rewinds_keeps_the_record_and_restarts(firmware_path, tmp_path):
    rig("attack_app.py", "test_signed_step_back_rewinds_keeps_the_record_and_restarts",
        firmware_path, tmp_path)


# ---- OTA x flash faults (fixed here) -------------------------------------------------------

def test_probation_rollback_on_a_full_flash_still_boots(firmware_path, tmp_path):
    # was: Ota.__init__ ran Trial.on_boot uncontained; with the flash full (ENOSPC on every
    # write) the rollback's record write raised out of App(), so the good bundle could not
    # start either (minimal mode builds the same App): no metering, a latching relay left
    # as it was. Without OTA the same full flash is contained (storage_fault, `storage` acks).
    rig("attack_app.py", "test_probation_rollback_on_a_full_flash_still_boots",
        firmware_path, tmp_path)


def test_newer_prepay_record_stops_the_start_without_ota_config_too(firmware_path, tmp_path):
    # was: app.py ran ota/formats.migrate (the check that stops the start on a record newer
    # than the bundle reads) only when config.json had "ota": without it a newer prepay
    # record was refused and rebuilt fresh (balance 0), e.g. after a `make deploy` by cable
    rig("attack_app.py", "test_newer_prepay_record_stops_the_start_without_ota_config_too",
        firmware_path, tmp_path)


def test_newer_floor_record_stops_the_start_too(firmware_path, tmp_path):
    # was: the floor record (used-up command seqs, reserved event seqs) had no format check:
    # an older bundle read a newer one as empty, reopening used command seqs
    rig("attack_app.py", "test_newer_floor_record_stops_the_start_too",
        firmware_path, tmp_path)


def test_time_op_during_probation_does_not_end_the_health_window(firmware_path, tmp_path):
    # was: ota/trial.py measured health_s on the wall clock (now_s - t0): a signed `time` op
    # of +1 day (allowed once synced), or network time, rolled a healthy bundle back at the
    # next loop pass as health_timeout:round_trip,loops
    rig("attack_app.py", "test_time_op_during_probation_does_not_end_the_health_window",
        firmware_path, tmp_path)


def test_keypad_lockout_is_not_shortened_by_a_clock_step(firmware_path, tmp_path):
    # was: paygo/entry.py kept the lock's end as a wall-clock time (lock_until_s), so a step
    # of the wall clock (NTP's 900 s on a synced meter, a signed `time` op) ended it at once
    rig("attack_app.py", "test_keypad_lockout_is_not_shortened_by_a_clock_step",
        firmware_path, tmp_path)
