"""The Python side of the bindings benchmark (consumer-sdk/c/bench/run.sh).

Reads a ring from its oldest event to its end with next_batch, touching each
event's seq and value (or a removal's key) as attributes, and prints
{"events":N,"seconds":S,"check":X}, timed from the first read, as the Rust and
C readers do. `--one` reads with next(timeout=0), one call per item.
"""

import json
import sys
import time

import slipstream


def main() -> None:
    ring = sys.argv[1]
    one = "--one" in sys.argv[2:]
    c = slipstream.Consumer(ring, start="oldest")
    Event = slipstream.Event
    events = check = 0
    t = time.perf_counter()
    if one:
        while True:
            ev = c.next(timeout=0)
            if ev is None or isinstance(ev, slipstream.ProducerChange):
                break
            if type(ev) is Event:
                events += 1
                v = ev.value if ev.kind == "mapping_update" else ev.key
                check += ev.seq + (len(v) if v is not None else 0)
    else:
        done = False
        while not done:
            batch = c.next_batch(4096, timeout=0)
            if not batch:
                break
            for ev in batch:
                if type(ev) is not Event:
                    if isinstance(ev, slipstream.ProducerChange):
                        done = True
                        break
                    continue
                events += 1
                v = ev.value
                if v is None:
                    v = ev.key
                check += ev.seq + (len(v) if v is not None else 0)
    secs = time.perf_counter() - t
    print(json.dumps({"events": events, "seconds": secs, "check": check}))
    c.close()


if __name__ == "__main__":
    main()
