# Broker address lookup that never blocks the metering loop. socket.getaddrinfo() blocks
# for the resolver's whole timeout when DNS is down (lwIP on an ESP32, libc on the unix port;
# both release the GIL around it), so a hostname is resolved on a helper thread and polled;
# an IPv4 literal needs no lookup. The last good address is kept: a reconnect uses it at
# once and refreshes it in the background after a failed attempt, so a broker that moved
# is found without a stall. Without _thread (a port built without threads) the lookup runs
# inline, as umqtt.simple does.
import socket

try:
    import _thread
except ImportError:
    _thread = None


def _ipv4(host):
    p = host.split(".")
    return len(p) == 4 and all(x.isdigit() and len(x) <= 3 and int(x) < 256 for x in p)


class Resolver:
    def __init__(self, host, port, getaddrinfo=None, threads=True):
        self.host = host
        self.port = port
        self._gai = getaddrinfo or socket.getaddrinfo
        self._threads = threads and _thread is not None and not _ipv4(host)
        self.addr = None            # the last good address
        self._busy = False          # a lookup thread is running
        self._got = None            # its result: an address or the exception it raised
        self.lookups = 0

    def _lookup(self):
        try:
            self._got = self._gai(self.host, self.port)[0][-1]
        except Exception as e:        # OSError from the resolver, anything from a fake
            self._got = e if isinstance(e, OSError) else OSError(str(e))
        self._busy = False

    def _start(self):
        self.lookups += 1
        if not self._threads:
            self._lookup()
            return
        self._busy = True
        self._got = None
        try:
            _thread.start_new_thread(self._lookup, ())
        except Exception:             # no room for a thread: once inline
            self._busy = False
            self._lookup()

    def poll(self, refresh=False):
        """The address to connect to, or None while a first lookup is running; OSError when
        a first lookup failed. refresh: the last attempt with the cached address failed."""
        if not self._busy and self._got is None and (self.addr is None or refresh):
            self._start()
        if self._busy:
            return self.addr        # the cached one meanwhile (None on a first lookup)
        g = self._got
        self._got = None
        if isinstance(g, OSError):
            if self.addr is None:
                raise g
        elif g is not None:
            self.addr = g
        return self.addr            # a failed refresh keeps the last good address
