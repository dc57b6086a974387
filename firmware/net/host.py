# The sim board's interface: the host's own network, always up (docs/porting.md "Network").
# Same methods as net/wifi.py and net/cellular.py, so the app treats every board alike.


class Host:
    KIND = "host"
    ALWAYS_UP = True
    up = True

    def service(self, want, idle_ms=0):
        return True

    def info(self):
        return {"iface": "host", "up": True}

    def take_time(self):
        return None

    def close(self):
        pass
