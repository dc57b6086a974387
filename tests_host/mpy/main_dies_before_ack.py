# TEST-ONLY launcher (tests_host/test_link_broker.py): firmware/main.py, except that the
# process dies (exit status 9, no shutdown, as kill -9 would) the first time an accepted
# command's ack is about to be published, i.e. after the command's save and before its
# ack leaves the meter. The firmware itself carries no test hook; this wrapper patches the
# link from outside, on the test's MICROPYPATH only.
import json
import sys

from link import mqtt

_real = mqtt.Link.publish_now


def _publish_now(self, topic, msg, qos=0, retain=False):
    t = topic.decode() if isinstance(topic, bytes) else topic
    if t.endswith("/ack"):
        a = json.loads(msg)
        if a.get("ok") and not a.get("dup"):
            sys.exit(9)
    return _real(self, topic, msg, qos, retain)


mqtt.Link.publish_now = _publish_now
import main  # noqa: E402

sys.exit(main.main(["main.py", sys.argv[1]]))
