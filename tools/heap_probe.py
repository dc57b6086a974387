# MicroPython script (not CPython): runs the meter app like firmware/main.py and measures
# its heap on every loop pass, for tools/bench_heap.py.
#
#   micropython -X heapsize=1m tools/heap_probe.py <flash dir>
#
# Until SIGINT it loops App.step() with the automatic collector off, and after each pass:
#   peak  = heap in use before collecting: what the pass left (its garbage included) on
#           top of the live set, so an upper bound of the pass's peak (nothing is freed
#           mid-pass while the collector is off);
#   block = the largest allocated block then: micropython.mem_info() prints it ("max blk
#           sz", in GC blocks) and the host reads it from our output;
#   live  = heap in use after gc.collect().
# micropython.mem_peak() is no substitute: it counts only explicit frees, so memory the
# collector reclaims stays "allocated" there and the figure grows with run time.
# It stops when the host creates <flash dir>/stop (looked for every STOP_CHECK_MS; a SIGINT
# landing inside the collector would leave the heap locked) and prints one line:
# HEAP {"imports": ..., "built": ..., "live": ..., ...}.
import gc
import os
import sys
import time
import micropython

gc.collect()
_base = gc.mem_alloc()
import app                                   # noqa: E402  (after the baseline)

BLOCK_B = 16 if sys.maxsize < 1 << 32 else 32  # GC block: 4 machine words
STOP_CHECK_MS = 200


def stop_asked(flash):
    try:
        os.stat(flash + "/stop")
        return True
    except OSError:
        return False


def main(flash):
    gc.collect()
    imports = gc.mem_alloc() - _base
    gc.disable()
    a = app.App(flash)
    peak = gc.mem_alloc() - _base            # building the app is a pass of its own
    micropython.mem_info()
    gc.collect()
    built = live = live_max = gc.mem_alloc() - _base
    passes = 0
    t_check = time.ticks_ms()
    while a.stop_code is None:
        a.step()
        passes += 1
        used = gc.mem_alloc()
        if used - _base > peak:
            peak = used - _base
        micropython.mem_info()
        gc.collect()
        live = gc.mem_alloc() - _base
        if live > live_max:
            live_max = live
        if time.ticks_diff(time.ticks_ms(), t_check) >= STOP_CHECK_MS:
            t_check = time.ticks_ms()
            if stop_asked(flash):      # its garbage is counted in the next pass: ~100 bytes
                break
    gc.enable()
    a.shutdown()
    print('\nHEAP {"imports": %d, "built": %d, "live": %d, "live_max": %d, "peak": %d, '
          '"passes": %d, "block_b": %d}' % (imports, built, live, live_max, peak, passes, BLOCK_B))


main(sys.argv[1])
