# The one validation module (firmware/core/check.py): ints that are not bools, ranges,
# bools, protocol ids, times; one wording for every refusal.
import mptest
from core import check


def test_int_in_refuses_bools_floats_strings_and_out_of_range():
    for v in (True, False, 1.0, "1", None, [1]):
        e = mptest.raises(ValueError, check.int_in, v, "n", 0, 9)
        mptest.eq(str(e), "n: not an int")
    mptest.eq(str(mptest.raises(ValueError, check.int_in, 10, "n", 0, 9)), "n: out of range 0..9")
    mptest.eq(str(mptest.raises(ValueError, check.int_in, -1, "n", 0)), "n: out of range 0..")
    mptest.eq(str(mptest.raises(ValueError, check.int_in, 5, "n", None, 4)), "n: out of range ..4")
    for v in (0, 9, 5):
        mptest.eq(check.int_in(v, "n", 0, 9), v)
    mptest.eq(check.int_in(-(1 << 70), "n"), -(1 << 70))      # no bound: any int


def test_is_int_and_bool():
    mptest.true(check.is_int(0) and check.is_int(1 << 40) and not check.is_int(True))
    mptest.eq(check.bool_(False, "b"), False)
    mptest.eq(str(mptest.raises(ValueError, check.bool_, 0, "b")), "b: not a bool")


def test_ids():
    for ok in ("a", "A-z_0.9:x", "x" * 40):
        mptest.true(check.is_id(ok), ok)
    for bad in ("", "x" * 41, "a b", "a/b", "é", None, 5, b"ab"):
        mptest.true(not check.is_id(bad), repr(bad))


def test_check_now():
    check.check_now(0)
    check.check_now(check.NOW_MAX)
    for bad in (-1, check.NOW_MAX + 1, True, 1.5, "1"):
        mptest.raises(ValueError, check.check_now, bad)


mptest.main(globals())
