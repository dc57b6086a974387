# Test-only: a `board` module exposing PINS like boards/esp32_*/board.py, for boot.py.
import sys


class _Board:
    PINS = {"button": 0, "led": 2}


sys.modules["board"] = _Board
