# Checks the harness itself and the module path on the unix port.
import mptest


def test_path_has_firmware():
    import core  # noqa: F401  (package exists on MICROPYPATH)


def test_raises_catches():
    e = mptest.raises(ValueError, int, "x")
    mptest.true(isinstance(e, ValueError))


mptest.main(globals())
