# The ESP32 board clock (firmware/hal/rtc_clock.py) on virtual time (vtime.py), with the
# ESP32's 2000 epoch and the unix port's 1970 one: wall and monotonic time, the RTC floor,
# set_now's rules (the same as boards/sim/simclock.py), the correction sum kept in RTC
# memory across resets and deep sleep, and RTC memory shared with the water driver.
import sys
import random
import mptest
from vtime import VirtualTime, FakeRTC
from hal.rtc_clock import RtcClock, RtcMemory, SLOT
import hal.rtc_clock as rc

T0 = 1800000000


def make(vt, floor_s=0, mem=None):
    rtc = FakeRTC(vt)
    if mem is not None:
        rtc.mem = mem
    m = RtcMemory(rtc)
    return RtcClock(floor_s, m, rtc, tm=vt), rtc


def test_rules_match_the_sim_clock():
    import simclock
    for k in ("MIN_PLAUSIBLE_S", "MAX_PLAUSIBLE_S", "MAX_JUMP_S", "MAX_BACK_S"):
        mptest.eq(getattr(rc, k), getattr(simclock, k), k)


def test_unix_seconds_on_both_epochs():
    for epoch in (1970, 2000):
        vt = VirtualTime(T0, epoch=epoch)
        c, rtc = make(vt)
        mptest.eq(c.now_s(), T0, "epoch %d" % epoch)
        vt.advance(2500)
        mptest.eq(c.now_s(), T0 + 2)
        c.set_now(T0 + 100)
        mptest.eq(c.now_s(), T0 + 100)
        # the RTC was set to the same instant, in the port's epoch
        mptest.eq(rtc.sets[-1] + (946684800 if epoch == 2000 else 0), T0 + 100)
        mptest.eq(vt.time() + (946684800 if epoch == 2000 else 0), T0 + 100)


def test_power_on_rtc_floored_and_unsynced():
    # a power cut reset the RTC to its epoch: the clock starts at the last saved time
    vt = VirtualTime(946684800 + 5, epoch=2000)
    c, rtc = make(vt, floor_s=T0)
    mptest.eq(c.now_s(), T0)
    mptest.eq(c.ok, False)
    mptest.true(rtc.sets, "the RTC itself was moved to the floor")
    mptest.true(c.mono_s() >= T0)
    # unsynced: any plausible forward correction is accepted; then the one-day rule holds
    c.set_now(T0 + 10 * 86400)
    mptest.eq(c.ok, True)
    mptest.raises(ValueError, c.set_now, c.now_s() + 86401)


def test_set_now_rejects_bad_input_and_changes_nothing():
    vt = VirtualTime(T0)
    c, rtc = make(vt)
    c.set_now(T0 + 5)
    for bad in ("1800000000", 1.8e9, True, None, 0, 1600000000, 4102444800, T0 + 5 - 301,
                T0 + 5 + 86401):
        before = (c.now_s(), c.mono_s(), c.corr_s, len(rtc.sets), rtc.mem)
        mptest.raises(ValueError, c.set_now, bad)
        mptest.eq((c.now_s(), c.mono_s(), c.corr_s, len(rtc.sets), rtc.mem), before, repr(bad))


def test_mono_never_moved_by_set_now_and_wall_never_backwards():
    random.seed(14)
    for trial in range(30):
        vt = VirtualTime(T0 + random.getrandbits(20), epoch=random.choice((1970, 2000)),
                         ms=(1 << 30) - random.getrandbits(12))      # ticks about to wrap
        c, rtc = make(vt)
        c.set_now(c.now_s())
        mono0, wall0 = c.mono_s(), c.now_s()
        elapsed = 0
        for step in range(40):
            ms = random.choice((0, 7, 250, 999, 1000, 5000, 60000))
            vt.advance(ms)
            elapsed += ms
            if random.random() < 0.3:
                d = random.choice((-300, -120, -3, 2, 60, 3600, 86400))
                try:
                    c.set_now(c.now_s() + d)
                except ValueError:
                    pass
            m, w = c.mono_s(), c.now_s()
            mptest.true(m >= mono0, "mono backwards")
            mptest.true(abs((m - mono0) - elapsed // 1000) <= 1, "mono counts real time")
            mptest.true(w >= wall0, "wall backwards")
            mono0, wall0 = m, w
            elapsed = 0


def test_step_back_is_held_not_rewound():
    vt = VirtualTime(T0)
    c, rtc = make(vt)
    c.set_now(T0 + 1000)
    c.set_now(T0 + 1000 - 100)
    mptest.eq(c.now_s(), T0 + 1000, "held")
    vt.advance(60000)
    mptest.eq(c.now_s(), T0 + 1000, "still held after 60 s")
    vt.advance(41000)
    mptest.eq(c.now_s(), T0 + 1001, "running again once caught up")
    mptest.eq(c.due_ms(T0 + 1003), 2000)


def test_corrections_survive_reset_and_deep_sleep_in_rtc_memory():
    vt = VirtualTime(T0, epoch=2000)
    c, rtc = make(vt)
    c.set_now(T0 + 3600)
    c.set_now(c.now_s() - 200)
    mono = c.mono_s()
    vt.advance(200000)                      # deep sleep: the RTC keeps counting
    c2, _ = make(vt, floor_s=T0 + 10, mem=rtc.mem)
    mptest.eq(c2.ok, True, "synced flag kept in RTC memory")
    mptest.eq(c2.corr_s, c.corr_s)
    mptest.eq(c2.mono_s(), mono + 200, "monotonic across the sleep")
    mptest.eq(c2.now_s(), vt.time() + 946684800)
    # a power cut clears RTC memory: corrections forgotten, mono restarts at the wall clock
    c3, _ = make(vt, floor_s=T0 + 10, mem=b"")
    mptest.eq((c3.ok, c3.corr_s), (False, 0))
    mptest.true(c3.mono_s() >= c2.mono_s())


def test_step_back_still_held_across_a_reset():
    # a step back held still, then a watchdog reset: the app saved the held time as the
    # floor (core/clock_floor.py, at every step), so the wall clock holds on, never goes back
    vt = VirtualTime(T0, epoch=2000)
    c, rtc = make(vt)
    c.set_now(T0 + 3600)
    c.set_now(T0 + 3600 - 250)
    held = c.now_s()
    mptest.eq(held, T0 + 3600)
    vt.advance(10000)
    c2, _ = make(vt, floor_s=held, mem=rtc.mem)
    mptest.eq(c2.now_s(), held, "held across the reset")
    vt.advance(250000)
    mptest.eq(c2.now_s(), T0 + 3600 + 10, "running again once caught up")


def test_signed_rewind_only_down_to_the_last_signed_time():
    for make_clock in ("rtc", "sim"):
        vt = VirtualTime(T0)
        if make_clock == "rtc":
            c, rtc = make(vt)
        else:
            import simclock
            c = simclock.SimClock(1, T0, synced=False)
        c.set_now(T0 + 100)
        c.set_now(T0 + 80000, False)                  # an unsigned step (network time)
        mptest.raises(ValueError, c.set_now, T0 + 1000, False)   # unsigned: no rewind
        mptest.raises(ValueError, c.set_now, T0 + 99)            # below the signed time
        c.set_now(T0 + 100)
        mptest.eq(c.now_s(), T0 + 100, make_clock)
        mptest.eq(c.signed_s, T0 + 100)


def test_rtc_memory_shared_with_the_driver():
    vt = VirtualTime(T0)
    c, rtc = make(vt)
    drv = RtcMemory(rtc).driver_view()
    drv.memory(b"WTR1....driver state")
    c.set_now(T0 + 50)
    mptest.eq(drv.memory(), b"WTR1....driver state", "a clock save keeps the driver's bytes")
    drv.memory(b"other")
    c2, _ = make(vt, mem=rtc.mem)
    mptest.eq((c2.ok, c2.corr_s), (True, 50), "a driver save keeps the clock's record")
    mptest.raises(ValueError, drv.memory, bytes(2048 - SLOT + 1))
    drv.memory(bytes(2048 - SLOT))
    # corrupt clock slot (a torn write): ignored, the driver's part still readable
    raw = bytearray(rtc.mem)
    raw[6] ^= 0xFF
    rtc.mem = bytes(raw)
    c3, _ = make(vt, mem=rtc.mem)
    mptest.eq((c3.ok, c3.corr_s), (False, 0))
    mptest.eq(len(drv.memory()), 2048 - SLOT)


def test_due_ms_and_advance():
    vt = VirtualTime(T0)
    c, _ = make(vt)
    mptest.eq(c.due_ms(T0 + 2), 2000)
    vt.advance(1500)
    mptest.eq(c.due_ms(T0 + 2), 500)
    c.advance(T0 + 100)                     # a no-op on a real board
    mptest.eq(c.now_s(), T0 + 1)
    c.sleep_ms(600)
    mptest.eq(c.now_s(), T0 + 2)


mptest.main(globals())
