# Entry point: `micropython firmware/main.py <flash dir>` (unix port, sim board) or `import
# main` on a device (flash dir "/"). Exits non-zero with a clear message on a bad config.
#
# Boot modes (boot.py -> hal/guard.py, docs/field-guide.md "Boot modes"):
#   safe    - the app is NOT built: no driver, no link, no metering. main returns and the
#             REPL is all that runs (the technician diagnoses with `import service`, which
#             reads the records on flash); the watchdog is fed by the service-window timer,
#             so a meter left in safe mode restarts by itself after SERVICE_WINDOW_S.
#   minimal - the app is built, but its loop runs app_safety.minimal_tick instead of
#             metering: actuators held safe, the link up, the crash_loop alarm reported.
#   normal  - everything. On the unix port hal.guard is never imported: always normal.
import sys


def _ab(flash):
    """True once an over-the-air update installed an A/B bundle: its pointer record exists
    (docs/ota.md). Until then firmware/loader.py is not even imported: nothing to choose."""
    import os
    for s in ("a", "b"):
        try:
            os.stat(flash.rstrip("/") + "/app_slot." + s)
            return True
        except OSError:
            pass
    return False


def main(argv):
    flash = argv[1] if len(argv) > 1 else "/"
    g = sys.modules.get("hal.guard")
    if g is not None and getattr(g, "MODE", "normal") == "safe":
        print("meter: safe mode (button held at power-up): app not started; REPL only")
        g.hold_for_service()
        return 0
    ld = sys.modules.get("loader")    # boot.py imported it on a device with A/B bundles
    if ld is None and _ab(flash):
        import loader as ld
    if ld is not None:
        ld.select(flash)              # once per boot: the bundle this boot runs
    while True:
        a = None
        try:
            import app
            a = app.App(flash)
        except KeyboardInterrupt:     # interrupted while loading: nothing started yet
            return 0
        except Exception as e:
            a = app = None
            if ld is not None and ld.crashed(e):    # a bundle on probation failed to start
                continue
            if isinstance(e, ValueError) and "app" in sys.modules:
                print("meter: " + str(e))     # appconfig: missing or invalid config.json
                return 2
            raise
        try:
            rc = a.run()
        except KeyboardInterrupt:     # landed outside run()'s own handler
            a.interrupted()
            return 0
        except Exception as e:
            a = app = None
            if ld is not None and ld.crashed(e):    # a bundle on probation crashed: roll back
                continue
            raise
        if rc != app.REBOOT:
            return rc
        print("meter: reboot")
        a = app = None                # nothing may keep the old bundle's modules alive
        if ld is None and _ab(flash):
            import loader as ld       # an update has just switched to its bundle
        if ld is not None:
            ld.restart(flash)         # machine.reset() on a device; on the unix port the
            continue                  # bundle the pointer names, from a clean slate
        try:
            import machine
            machine.reset()
        except (ImportError, AttributeError):
            pass                      # unix port: start again from flash, like a reset


if __name__ == "__main__":
    sys.exit(main(sys.argv))
