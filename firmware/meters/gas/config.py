# The gas driver's runtime configuration (the `config` op and the console, key `gas`):
# validate the merged settings, write the driver record with them first (OSError: nothing
# changed), then apply, keeping the detectors' runs and timers (FlowSafety.retune), and hand
# back an undo for the command layer (used when the prepay save that follows fails).
# Functions of the Driver `drv` (meters/gas/driver.py).
from meters.gas.safety import validate


def check(drv, patch):
    if not isinstance(patch, dict) or set(patch) - set(drv.CONFIG_KEYS):
        raise ValueError("unknown gas driver key")
    g = patch.get("gas", {})
    if not isinstance(g, dict):
        raise ValueError("gas config must be an object")
    merged = dict(drv.over)
    merged.update(g)
    return validate(merged)


def configure(drv, patch, now_s):
    """Validate, write the driver record with the new settings (OSError: nothing
    changed), then apply. Returns a callable that puts the old settings back (the
    command layer calls it when the prepay save that follows fails)."""
    s = check(drv, patch)
    over = dict(drv.over)
    over.update(patch.get("gas", {}))
    drv.store.save(drv.RECORD, drv.record_of(over))
    old_over, old_s = drv.over, dict(drv.s)
    _apply(drv, over, s)

    def undo():
        _apply(drv, old_over, old_s)
        drv.save_record(now_s)
    return undo


def _apply(drv, over, s):
    drv.over = over
    drv.s.clear()
    drv.s.update(s)
    # the detectors keep their windows and timers across a settings change (a config
    # command must not restart a long-use run or an uncontrolled-flow watch)
    drv.safety.retune(drv.s)
    drv.valve.timeout_s = drv.s["valve_timeout_s"]
