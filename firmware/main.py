# Entry point: `micropython firmware/main.py <flash dir>` (unix port, sim board) or `import
# main` on a device (flash dir "/"). Exits non-zero with a clear message on a bad config.
import sys


def main(argv):
    flash = argv[1] if len(argv) > 1 else "/"
    import app
    while True:
        try:
            a = app.App(flash)
        except ValueError as e:       # appconfig: missing or invalid config.json
            print("meter: " + str(e))
            return 2
        rc = a.run()
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
