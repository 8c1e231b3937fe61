/* The C side of the bindings benchmark (run.sh): reads a ring from its oldest
 * event to its end through libslipstream, touching each event's seq and value
 * (or a removal's key), and prints {"events":N,"seconds":S,"check":X}, timed
 * from the first read, as examples/bench_rust.rs does with the Rust SDK. */
#include <stdio.h>
#include <time.h>

#include "slipstream.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s RING\n", argv[0]);
        return 2;
    }
    slipstream_options_t o;
    slipstream_options_init(&o);
    o.start = SLIPSTREAM_START_OLDEST;
    slipstream_consumer_t *c = NULL;
    char err[256];
    if (slipstream_consumer_open(argv[1], &o, &c, err, sizeof err) != SLIPSTREAM_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    unsigned long long events = 0, check = 0;
    slipstream_item_t it;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (;;) {
        slipstream_status_t st = slipstream_consumer_next(c, 0, &it);
        if (st != SLIPSTREAM_OK) {
            fprintf(stderr, "next: %s\n", slipstream_consumer_error(c));
            return 1;
        }
        if (it.kind == SLIPSTREAM_ITEM_IDLE || it.kind == SLIPSTREAM_ITEM_PRODUCER) break;
        if (it.kind != SLIPSTREAM_ITEM_EVENT) continue;
        events++;
        check += it.seq;
        if (it.event_kind == SLIPSTREAM_KIND_MAPPING_UPDATE) check += it.value.len;
        else if (it.event_kind == SLIPSTREAM_KIND_MAPPING_REMOVAL && it.has_key) check += it.key.len;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("{\"events\":%llu,\"seconds\":%.9f,\"check\":%llu}\n", events, secs, check);
    slipstream_consumer_close(c);
    return 0;
}
