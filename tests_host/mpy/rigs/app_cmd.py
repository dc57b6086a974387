# Driving a whole App in a test script without a broker: ticks at the app's own schedule
# and a signed command handed to the app's link callback, its ack caught at publish_now.
import json

from core import frame


def ticks(a, n):
    for _ in range(n):
        a.clock.advance(a.next_tick_s)
        a.tick()


def command(a, meter_id, key_hex, seq, op, args):
    """The ack of one signed command (None when the app published none)."""
    body = json.dumps({"id": "c%d" % seq, "meter": meter_id, "seq": seq, "op": op,
                       "args": args}).encode()
    acks = []
    a.link.publish_now = lambda topic, payload, qos=0, retain=False: acks.append(json.loads(payload))
    a._on_message((a.topic + "cmd").encode(), frame.sign(bytes.fromhex(key_hex), body), False)
    return acks[-1] if acks else None
