# machine.UART of the fake ESP32 `machine` module (tests_host/mpy/fakes/machine.py, which
# re-exports it): constructor keywords, IRQ constants and behaviour of
# ports/esp32/machine_uart.c (RX buffer of 256 bytes by default, irq(handler, trigger,
# hard) with IRQ_RX, IRQ_BREAK and IRQ_RXIDLE, no hard IRQs), and a test-side peer: a
# simulated device whose rx(data, uart) sees every write and whose poll(uart) runs before
# every read (machine.attach).
import machine


class UART:
    IRQ_RX = 1              # 1 << UART_DATA (ports/esp32/machine_uart.c)
    IRQ_BREAK = 2           # 1 << UART_BREAK
    IRQ_RXIDLE = 0x1000
    RXBUF = 256             # the port's default rxbuf: bytes beyond it are lost

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, tx=None, rx=None,
                 **kw):
        self.id = id
        self.baudrate = baudrate
        self.tx = tx
        self.rx = rx
        self.rxbuf = bytearray()
        self.written = bytearray()
        self.timeout = kw.get("timeout", 0)
        self.rxbuf_max = kw.get("rxbuf", self.RXBUF)
        self.handler = None
        self.trigger = 0
        self.overruns = 0
        self.peer = machine._world["peers"].get(id)
        machine._world["uarts"][id] = self

    def init(self, baudrate=None, **kw):
        if baudrate:
            self.baudrate = baudrate

    def deinit(self):
        self.handler = None

    def irq(self, handler=None, trigger=0, hard=False):
        if hard:
            raise ValueError("hard IRQ is not supported")   # ESP32 port: no hard=True
        if trigger & ~(self.IRQ_RX | self.IRQ_BREAK | self.IRQ_RXIDLE):
            raise ValueError("trigger 0x%x unsupported" % trigger)
        self.handler = handler
        self.trigger = trigger if handler else 0

    def _poll(self):
        machine._tick_world()
        if self.peer is not None:
            self.peer.poll(self)

    def any(self):
        self._poll()
        return len(self.rxbuf)

    def read(self, n=-1):
        self._poll()
        if not self.rxbuf:
            return None
        if n < 0:
            n = len(self.rxbuf)
        out = bytes(self.rxbuf[:n])
        self.rxbuf = self.rxbuf[n:]
        return out

    def readinto(self, buf, nbytes=-1):
        d = self.read(len(buf) if nbytes < 0 else nbytes)
        if not d:
            return None
        buf[:len(d)] = d
        return len(d)

    def write(self, buf):
        data = bytes(buf)
        self.written += data
        if len(self.written) > 8192:
            self.written = self.written[-4096:]
        if self.peer is not None:
            self.peer.rx(data, self)
        return len(data)

    def flush(self):
        pass

    # test side
    def feed(self, data):
        room = self.rxbuf_max - len(self.rxbuf)
        if len(data) > room:
            self.overruns += 1
            data = data[:max(room, 0)]
        self.rxbuf += data
        if self.handler and self.trigger & (self.IRQ_RXIDLE | self.IRQ_RX) and data:
            self.handler(self)
