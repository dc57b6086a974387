# Keypad driver against fake pins: a 4x4 matrix (rows driven, cols pulled up) and
# a 4-key direct pad, with contact bounce, ghosting, the 20 s digit timeout and
# auto-submit; then one end-to-end press sequence into a real TokenEntry.
import random
import mptest
from paygo.keypad import Keypad, DEBOUNCE_MS, DIGIT_TIMEOUT_MS, SUBMIT_IDLE_MS

LAYOUT = "123A456B789C*0#D"


class Out:
    def __init__(self):
        self.v = 1

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class Matrix:
    """Electrical model: a held key joins its row and column; a column reads 0 when
    any held key on it sits on a row driven low. `bounce` flips the contact."""

    def __init__(self):
        self.rows = [Out() for _ in range(4)]
        self.held = set()
        self.bounce = 0
        m = self

        class Col:
            def __init__(self, j):
                self.j = j

            def value(self, v=None):
                for k in m.held:
                    i = LAYOUT.index(k)
                    if i % 4 == self.j and m.rows[i // 4].v == 0:
                        if m.bounce and random.getrandbits(1):
                            return 1
                        return 0
                return 1
        self.cols = [Col(j) for j in range(4)]


class Direct:
    def __init__(self, chars="1234"):
        self.held = set()
        d = self

        class P:
            def __init__(self, ch):
                self.ch = ch

            def value(self, v=None):
                return 0 if self.ch in d.held else 1
        self.keys = [(P(c), c) for c in chars]


class Entry:
    def __init__(self):
        self.got = []
        self.ticks = 0

    def enter(self, digits, now_s):
        self.got.append(digits)
        return {"result": "invalid", "digits": digits}

    def tick(self, t_ms):
        self.ticks += 1


class Clock:
    t = 0


def press(kp, hw, ch, clk, hold_ms=80, gap_ms=60, bounce=False):
    res = None
    hw.held.add(ch)
    if hasattr(hw, "bounce"):
        hw.bounce = 1 if bounce else 0
    for _ in range(0, hold_ms, 5):
        if bounce and hasattr(hw, "bounce") and _ > hold_ms // 3:
            hw.bounce = 0  # the contact settles
        r = kp.poll(clk.t, clk.t // 1000)
        res = res or r
        clk.t += 5
    hw.held.discard(ch)
    for _ in range(0, gap_ms, 5):
        r = kp.poll(clk.t, clk.t // 1000)
        res = res or r
        clk.t += 5
    return res


def test_matrix_types_and_submits_with_hash():
    hw, e, clk = Matrix(), Entry(), Clock()
    kp = Keypad(e, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    for ch in "123456789":
        press(kp, hw, ch, clk)
    mptest.eq(e.got, [])
    r = press(kp, hw, "#", clk)
    mptest.eq(e.got, ["123456789"])
    mptest.eq(r["digits"], "123456789")
    mptest.true(e.ticks > 0, "entry LED ticked")


def test_bounce_gives_one_key_per_press():
    random.seed(3)
    hw, e, clk = Matrix(), Entry(), Clock()
    kp = Keypad(e, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    s = "".join(str(random.getrandbits(3)) for _ in range(12))
    for ch in s:
        press(kp, hw, ch, clk, hold_ms=120, bounce=True)
    press(kp, hw, "#", clk)
    mptest.eq(e.got, [s])


def test_short_glitch_is_not_a_key():
    hw, e, clk = Matrix(), Entry(), Clock()
    kp = Keypad(e, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    press(kp, hw, "5", clk, hold_ms=DEBOUNCE_MS - 10)
    mptest.eq(kp.buf, "")


def test_two_keys_at_once_ignored_and_star_clears():
    hw, e, clk = Matrix(), Entry(), Clock()
    kp = Keypad(e, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    hw.held.update(("1", "5"))
    for _ in range(20):
        kp.poll(clk.t, 0)
        clk.t += 5
    hw.held.clear()
    mptest.eq(kp.buf, "")
    for ch in "4242":
        press(kp, hw, ch, clk)
    press(kp, hw, "*", clk)
    mptest.eq(kp.buf, "")
    press(kp, hw, "#", clk)
    mptest.eq(e.got, [], "empty code never submitted")


def test_digit_timeout_discards():
    hw, e, clk = Matrix(), Entry(), Clock()
    kp = Keypad(e, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    for ch in "1234":
        press(kp, hw, ch, clk)
    clk.t += DIGIT_TIMEOUT_MS - 500
    kp.poll(clk.t, 0)
    mptest.eq(kp.buf, "1234", "still inside 20 s")
    clk.t += 1000
    kp.poll(clk.t, 0)
    mptest.eq(kp.buf, "")
    for ch in "99":
        press(kp, hw, ch, clk)
    press(kp, hw, "#", clk)
    mptest.eq(e.got, ["99"])


def test_four_key_pad_auto_submits_15_and_20():
    random.seed(5)
    hw, e, clk = Direct(), Entry(), Clock()
    kp = Keypad(e, keys=hw.keys)
    s20 = "".join("1234"[random.getrandbits(2)] for _ in range(20))
    for ch in s20:
        press(kp, hw, ch, clk)
    mptest.eq(e.got, [s20], "20 keys submit at once")
    s15 = s20[:15]
    for ch in s15:
        press(kp, hw, ch, clk)
    mptest.eq(len(e.got), 1)
    for _ in range(SUBMIT_IDLE_MS // 10 + 2):
        kp.poll(clk.t, 0)
        clk.t += 10
    mptest.eq(e.got, [s20, s15], "15 keys submit after the idle pause")


def test_bad_wiring_rejected():
    e = Entry()
    mptest.raises(ValueError, Keypad, e)
    mptest.raises(ValueError, Keypad, e, rows=[Out()], cols=[Out()], layout="12")
    mptest.raises(ValueError, Keypad, e, keys=[])


class MiniPrepay:
    """Just the facade surface TokenEntry uses (no credit expected here)."""
    balance_minor = 0

    def __init__(self):
        self.ext, self.events, self.saves = {}, [], 0

    def emit(self, type, now_s, **f):
        f["type"] = type
        self.events.append(f)

    def save(self):
        self.saves += 1

    def recharge(self, txn, amount_minor, now_s, via="remote"):
        raise AssertionError("garbage must never reach recharge")


def test_end_to_end_into_token_entry():
    from paygo import entry
    p = MiniPrepay()
    te = entry.TokenEntry(p, {"paygo": {"key": "a29ab82edc5fbbc41ec9530f6dac86b1", "unit": 1}})
    hw, clk = Matrix(), Clock()
    kp = Keypad(te, rows=hw.rows, cols=hw.cols, layout=LAYOUT)
    for ch in "000000000":
        press(kp, hw, ch, clk)
    r = press(kp, hw, "#", clk)
    mptest.eq(r["result"], "invalid")
    mptest.eq(r["reason"], "no_match")
    mptest.eq(p.events[-1]["type"], "token")
    mptest.eq(p.saves, 1, "the wrong-code count is persisted")


mptest.main(globals())
