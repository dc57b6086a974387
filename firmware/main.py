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


def main(argv):
    flash = argv[1] if len(argv) > 1 else "/"
    g = sys.modules.get("hal.guard")
    if g is not None and getattr(g, "MODE", "normal") == "safe":
        print("meter: safe mode (button held at power-up): app not started; REPL only")
        g.hold_for_service()
        return 0
    try:
        import app
    except KeyboardInterrupt:         # interrupted while loading: nothing started yet
        return 0
    while True:
        a = None
        try:
            a = app.App(flash)
            rc = a.run()
        except ValueError as e:       # appconfig: missing or invalid config.json
            if a is not None:
                raise
            print("meter: " + str(e))
            return 2
        except KeyboardInterrupt:     # landed outside run()'s own handler
            if a is not None:
                a.interrupted()
            return 0
        if rc != app.REBOOT:
            return rc
        print("meter: reboot")
        try:
            import machine
            machine.reset()
        except (ImportError, AttributeError):
            pass                      # unix port: start again from flash, like a reset


if __name__ == "__main__":
    sys.exit(main(sys.argv))
