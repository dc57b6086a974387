# The electricity driver's runtime configuration (the `config` op and the console): validate
# every part (relay, malicious_load, overload, voltage, bl0942) before applying any, write
# the driver record with the new settings first (OSError: nothing changed), then apply in
# place so the parts see them, and hand back an undo for the command layer (used when the
# prepay save that follows fails). Functions of the Driver `drv` (meters/electricity/driver.py).
import meters.electricity.bl0942 as bl0942
import meters.electricity.relay as relay
import meters.electricity.malicious_load as malicious_load
import meters.electricity.protection as protection


def _merge(defaults, patch):
    d = dict(defaults)
    d.update(patch)
    return d


def settings(drv, cfg, over):
    """The parts' settings at boot: defaults, config.json's values, the stored runtime
    overrides on top, every part validated (ValueError names the part and key)."""
    cfg = dict(cfg or {})
    for k, v in over.items():
        d = dict(cfg.get(k) or {})
        d.update(v)
        cfg[k] = d
    drv.rcfg = _merge(relay.DEFAULTS, relay.validate(cfg.get("relay", {})))
    drv.mcfg = _merge(malicious_load.DEFAULTS,
                       malicious_load.validate(cfg.get("malicious_load", {})))
    drv.ocfg = _merge(protection.OVERLOAD_DEFAULTS,
                       protection.validate_overload(cfg.get("overload", {})))
    drv.vcfg = _merge(protection.VOLTAGE_DEFAULTS,
                       protection.validate_voltage(cfg.get("voltage", {})))
    bl0942.validate_cal(cfg.get("bl0942") or {})
    return cfg


def check(drv, patch):
    """Validate a config patch of CONFIG_KEYS without applying it (ValueError)."""
    if not isinstance(patch, dict):
        raise ValueError("config: not a dict")
    for k in patch:
        if k not in drv.CONFIG_KEYS:
            raise ValueError("config: unknown electricity key %s" % k)
    new = {}
    if "relay" in patch:
        new["relay"] = relay.validate(patch["relay"])
    if "malicious_load" in patch:
        new["malicious_load"] = malicious_load.validate(patch["malicious_load"], drv.mcfg)
    if "overload" in patch:
        new["overload"] = protection.validate_overload(patch["overload"])
    if "voltage" in patch:
        new["voltage"] = protection.validate_voltage(patch["voltage"], drv.vcfg)
    if "bl0942" in patch:
        new["bl0942"] = bl0942.validate_cal(patch["bl0942"])
    return new


def configure(drv, patch):
    """Validate, write the driver record with the new settings (OSError: nothing
    changed), then apply in place so the parts see them. Returns a callable that puts
    the old settings back (the command layer calls it when the prepay save fails)."""
    new = check(drv, patch)
    over = {}
    for k in drv.over:
        over[k] = dict(drv.over[k])
    for k in new:
        o = over.get(k) or {}
        o.update(new[k])
        over[k] = o
    drv.store.save(drv.RECORD, drv.record_of(over))
    parts = (("relay", drv.rcfg), ("malicious_load", drv.mcfg),
             ("overload", drv.ocfg), ("voltage", drv.vcfg), ("bl0942", drv.ic.cal))
    old = [(d, dict(d)) for k, d in parts if k in new]
    old_over = drv.over
    for k, d in parts:
        if k in new:
            d.update(new[k])
    drv.over = over
    if "malicious_load" in new:
        drv.vote.reset()

    def undo():
        for d, was in old:
            d.clear()
            d.update(was)
        drv.over = old_over
        drv.dirty = True
        drv.persist()
    return undo
