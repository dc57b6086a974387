# boot.py: the ESP32 runs this first, then main.py. (The unix port's entry is main.py, so
# this never runs on a sim meter.) Starts the watchdog before anything else can hang,
# records the reset cause, and picks the mode the app runs in (hal/guard.py):
#   normal  - the full firmware
#   safe    - button held at power-up: the app does not start; REPL and link only
#   minimal - crash loop: no metering code, actuators left safe, fault reported
import os


def _ab():
    # an over-the-air update installed an A/B bundle (docs/ota.md): choose it before
    # anything imports from a bundle
    for s in ("a", "b"):
        try:
            os.stat("/app_slot." + s)
            return True
        except OSError:
            pass
    return False


if _ab():
    import loader
    loader.select("/")
from hal import guard   # noqa: E402


def _button():
    # The board's button, active low with the internal pull-up (boards/esp32_*/board.py).
    try:
        import board
        from machine import Pin
        pin = Pin(board.PINS["button"], Pin.IN, Pin.PULL_UP)
    except Exception as e:          # no button on this board: safe mode via the console only
        print("boot: no button (%r)" % e)
        return None
    return lambda: pin.value() == 0


guard.start(".", button=_button())
print("boot: mode=%s reset=%s unhealthy_resets=%d" % (guard.MODE, guard.CAUSE, guard.RESETS))
