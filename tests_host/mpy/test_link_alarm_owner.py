# The `clear` op for an alarm raised outside the driver (the keypad lockout of
# paygo/entry.py, registered in Commands.alarm_owners): its owner's rule decides, and a
# refusal changes nothing on flash. Apart from test_link_commands.py to keep that script's
# heap margin.
import gc
import mptest
import core.commands  # noqa: F401  (compile the big modules first, one at a time)
gc.collect()
import fakemeters.fakeprepay  # noqa: F401
gc.collect()
from fakemeters.cmdfix import KEY, NOW, fresh, body, send, unchanged
from core import frame


def test_clear_of_an_alarm_owned_outside_the_driver():
    # the keypad lockout (paygo/entry.py) is cleared by its owner's rule, not the driver's
    class Owner:
        allow = False

        def can_clear(self, name):
            return self.allow and name == "token_lockout"
    c = fresh()
    o = Owner()
    c.alarm_owners["token_lockout"] = o
    c.prepay.alarm("token_lockout", NOW)
    unchanged(c, frame.sign(KEY, body(1, "clear", {"alarm": "token_lockout"})), "bad_args")
    o.allow = True
    # a refused command uses up its seq (docs/protocol.md §3): the retry takes the next
    mptest.eq(send(c, body(2, "clear", {"alarm": "token_lockout"}))["code"], "ok")
    mptest.eq(c.prepay.alarms, {})


mptest.main(globals())
