# heap: 128k
# firmware/loader.py (which bundle a boot runs, and sys.path without a mix of bundles) and
# firmware/ota/formats.py (record migrations from every earlier format), on the real port.
import os
import sys

import mptest
import loader
from core.store import Store
from ota import formats, slots

ROOT = "ldflash"


def fresh():
    if slots.is_dir(ROOT):
        from ota_rig import rmtree
        rmtree(ROOT)
    os.mkdir(ROOT)
    return Store(ROOT)


def bundle(slot, marker="app.mpy"):
    d = slots.path(ROOT, slot)
    slots.mkdirs(d)
    with open(d + "/" + marker, "w") as f:
        f.write("x")


def test_pointer_reader_agrees_with_the_store_under_corruption():
    import random
    random.seed(15)
    st = fresh()
    for i in range(6):
        st.save("app_slot", {"v": 1, "active": "ab"[i % 2], "good": "a", "trial": i % 3 == 0, "u": "u%d" % i})
    n = 0
    for trial in range(200):
        name = ROOT + "/app_slot." + random.choice("ab")
        with open(name, "rb") as f:
            data = bytearray(f.read())
        how = random.randrange(4)
        if how == 0:
            data[random.randrange(len(data))] ^= 1 << random.randrange(8)
        elif how == 1:
            data = data[:random.randrange(len(data))]
        elif how == 2:
            data += b"x"
        with open(name, "wb") as f:
            f.write(data)
        mptest.eq(loader.read_pointer(ROOT), Store(ROOT).load("app_slot"), "case %d" % trial)
        n += 1
        st = Store(ROOT)
        st.save("app_slot", {"v": 1, "active": "b", "good": "a", "trial": False, "u": "r%d" % trial})
    mptest.eq(n, 200)


def test_choose_follows_the_pointer_and_falls_back():
    st = fresh()
    mptest.eq(loader.choose(ROOT), ("base", None), "no pointer: the deployed bundle")
    bundle("a")
    bundle("b")
    slots.write(st, "a", "a", False)
    mptest.eq(loader.choose(ROOT), ("a", None))
    slots.write(st, "b", "a", True)
    for i in range(loader.BOOTS_MAX):
        mptest.eq(loader.choose(ROOT), ("b", None), "probation boot %d" % (i + 1))
    mptest.eq(loader.trial_log(ROOT), b"b" * loader.BOOTS_MAX)
    mptest.eq(loader.choose(ROOT), ("a", "boot_loop"))
    slots.clear_trial(ROOT)
    mptest.eq(loader.choose(ROOT, count=False), ("b", None))
    mptest.eq(loader.trial_log(ROOT), b"", "a deep-sleep wake is not counted")
    with open(slots.path(ROOT, "trial"), "ab") as f:
        f.write(b"c")
    mptest.eq(loader.choose(ROOT), ("a", "crash"))
    slots.clear_trial(ROOT)
    os.remove(slots.path(ROOT, "b", "app.mpy"))
    mptest.eq(loader.choose(ROOT), ("a", "missing"), "a slot without its app module never runs")
    os.remove(slots.path(ROOT, "a", "app.mpy"))
    mptest.eq(loader.choose(ROOT)[0], "base", "nor a good slot without one")
    bundle("a", "app.py")
    for p in ({"v": 2, "active": "a"}, {"v": 1, "active": "../x", "good": "a"},
              {"v": 1, "active": "a", "good": "zz"}):
        st.save("app_slot", p)
        mptest.true(loader.choose(ROOT)[0] in ("a", "base"), p)


def test_select_puts_one_bundle_on_the_path_and_no_other():
    fresh()
    bundle("b")
    os.mkdir(ROOT + "/old")
    with open(ROOT + "/old/app.mpy", "w") as f:
        f.write("x")
    os.mkdir(ROOT + "/old/lib")
    saved = list(sys.path)
    try:
        sys.path[:] = [ROOT + "/old", ROOT + "/old/lib", "/other"]
        loader.SLOT = loader.ROOT = loader._PATH0 = None
        slots.write(Store(ROOT), "b", "b", False)
        mptest.eq(loader.select(ROOT), "b")
        d = slots.path(ROOT, "b")
        mptest.eq(sys.path, [d, d + "/lib", "/other"])
        mptest.eq(loader.select(ROOT), "b", "once per boot")
        mptest.eq(loader.trial(), False)
    finally:
        sys.path[:] = saved
        loader.SLOT = loader.ROOT = loader._PATH0 = None


def _chain():
    # a made-up record "meterx" through three formats: v1 {"kwh": int} ->
    # v2 {"wh": int} (unit change) -> v3 {"wh": int, "phases": 1} (a field with a default)
    def v1_to_v2(d):
        return {"wh": d["kwh"] * 1000}

    def v2_to_v3(d):
        d = dict(d)
        d["phases"] = 1
        return d
    return {"meterx": [3, [3]]}, {"meterx": {1: v1_to_v2, 2: v2_to_v3}}


def test_migration_from_every_earlier_format():
    f, m = _chain()
    for v, body in ((1, {"kwh": 7}), (2, {"v": 2, "wh": 7000}), (3, {"v": 3, "wh": 7000, "phases": 1})):
        st = fresh()
        st.save("meterx", body)
        done = formats.migrate(st, f, m)
        mptest.eq(done, [] if v == 3 else [("meterx", v, 3)], "from v%d" % v)
        mptest.eq(Store(ROOT).load("meterx"), {"v": 3, "wh": 7000, "phases": 1}, "from v%d" % v)
        mptest.eq(formats.migrate(Store(ROOT), f, m), [], "a second start changes nothing")


def test_newer_or_unknown_formats_stop_the_start_and_change_nothing():
    f, m = _chain()
    for body in ({"v": 4, "wh": 1}, {"v": 0}, {"v": "2"}, {"v": True}):
        st = fresh()
        st.save("meterx", body)
        mptest.raises(ValueError, formats.migrate, st, f, m)
        mptest.eq(Store(ROOT).load("meterx"), body)
    st = fresh()
    st.save("meterx", {"kwh": 1})
    mptest.raises(ValueError, formats.migrate, st, f, {"meterx": {1: m["meterx"][1]}})
    mptest.eq(Store(ROOT).load("meterx"), {"kwh": 1}, "a missing step migrates nothing")


def test_the_shipped_formats_are_current():
    # every record this bundle writes is at the version its code writes: prepay's own VERSION
    from core import prepay
    mptest.eq(formats.FORMATS["prepay"][0], prepay.VERSION)
    st = fresh()
    st.save("prepay", {"v": prepay.VERSION, "x": 1})
    mptest.eq(formats.migrate(st), [])


mptest.main(globals())
