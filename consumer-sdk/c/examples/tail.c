/*
 * tail.c: prints a Slipstream ring's events as JSON lines, exactly as
 * `slipstream-tail --json` prints them (see tools/src/render.rs).
 *
 *   tail RING [--from oldest|newest|end|SEQ|height:H] [--name NAME]
 *             [--no-follow | --idle-ms N]
 *
 * --no-follow: print what the ring holds (from --from) and exit.
 * --idle-ms N: follow, waiting in poll(2) on the consumer's readiness fd, and
 *              exit once nothing came for N milliseconds (default: forever).
 *
 * Build: cc -O2 -I consumer-sdk/c/include tail.c target/release/libslipstream.a \
 *           -lpthread -ldl -lm -o tail
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slipstream.h"

static void hex(FILE *out, slipstream_bytes_t b) {
    static const char digits[] = "0123456789abcdef";
    char buf[512];
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++) {
        buf[n++] = digits[b.ptr[i] >> 4];
        buf[n++] = digits[b.ptr[i] & 15];
        if (n == sizeof buf) {
            fwrite(buf, 1, n, out);
            n = 0;
        }
    }
    fwrite(buf, 1, n, out);
}

/* The next code point of UTF-8 text at s[*i..len], or -1 if it is not valid
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included). */
static long utf8_next(const uint8_t *s, size_t len, size_t *i) {
    uint8_t c = s[*i];
    long cp;
    size_t extra;
    if (c < 0x80) { *i += 1; return c; }
    else if (c >= 0xc2 && c <= 0xdf) { cp = c & 0x1f; extra = 1; }
    else if (c >= 0xe0 && c <= 0xef) { cp = c & 0x0f; extra = 2; }
    else if (c >= 0xf0 && c <= 0xf4) { cp = c & 0x07; extra = 3; }
    else return -1;
    if (len - *i <= extra) return -1; /* truncated */
    for (size_t k = 1; k <= extra; k++) {
        uint8_t d = s[*i + k];
        if ((d & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (d & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += extra + 1;
    return cp;
}

/* Whether a name shows as text: non-empty UTF-8 without control characters
 * (Rust's char::is_control: U+0000..U+001F and U+007F..U+009F). */
static int is_text(slipstream_bytes_t b) {
    if (b.len == 0) return 0;
    size_t i = 0;
    while (i < b.len) {
        long cp = utf8_next(b.ptr, b.len, &i);
        if (cp < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 0;
    }
    return 1;
}

/* A name: "key":"text" (escaped as serde_json does), or "key_hex":"hex". */
static void name(FILE *out, const char *key, slipstream_bytes_t b) {
    if (is_text(b)) {
        fprintf(out, ",\"%s\":\"", key);
        for (size_t i = 0; i < b.len; i++) {
            if (b.ptr[i] == '"' || b.ptr[i] == '\\') fputc('\\', out);
            fputc(b.ptr[i], out);
        }
        fputc('"', out);
    } else {
        fprintf(out, ",\"%s_hex\":\"", key);
        hex(out, b);
        fputc('"', out);
    }
}

static void field_hex(FILE *out, const char *key, slipstream_bytes_t b) {
    fprintf(out, ",\"%s\":\"", key);
    hex(out, b);
    fputc('"', out);
}

static void print_event(FILE *out, const slipstream_item_t *it) {
    fprintf(out, "{\"seq\":%llu,\"kind\":\"%s\",\"block_height\":%llu,\"ordinal\":%u",
            (unsigned long long)it->seq, slipstream_kind_name(it->event_kind),
            (unsigned long long)it->block_height, it->ordinal);
    switch (it->event_kind) {
    case SLIPSTREAM_KIND_MAPPING_UPDATE:
        name(out, "program_id", it->program_id);
        name(out, "mapping_name", it->mapping_name);
        field_hex(out, "key", it->key);
        field_hex(out, "value", it->value);
        break;
    case SLIPSTREAM_KIND_MAPPING_REMOVAL:
        name(out, "program_id", it->program_id);
        name(out, "mapping_name", it->mapping_name);
        if (it->has_key) field_hex(out, "key", it->key);
        else fputs(",\"key\":null", out);
        break;
    case SLIPSTREAM_KIND_STAKING_REWARD:
        field_hex(out, "staker", it->staker);
        field_hex(out, "validator", it->validator);
        fprintf(out, ",\"reward\":%llu,\"new_stake\":%llu", (unsigned long long)it->reward,
                (unsigned long long)it->new_stake);
        break;
    case SLIPSTREAM_KIND_BLOCK:
        fprintf(out, ",\"block_len\":%zu", it->block.len);
        field_hex(out, "block", it->block);
        break;
    case SLIPSTREAM_KIND_BLOCK_BEGIN:
        if (it->event_count == SLIPSTREAM_UNKNOWN_COUNT) fputs(",\"event_count\":null", out);
        else fprintf(out, ",\"event_count\":%u", it->event_count);
        break;
    case SLIPSTREAM_KIND_BLOCK_COMMIT:
        fprintf(out, ",\"event_count\":%u", it->event_count);
        break;
    }
    fputs("}\n", out);
}

/* Prints one item; returns 1 if it was an event, 0 otherwise. */
static int print_item(FILE *out, const slipstream_item_t *it) {
    switch (it->kind) {
    case SLIPSTREAM_ITEM_EVENT:
        print_event(out, it);
        return 1;
    case SLIPSTREAM_ITEM_LAGGED:
        fprintf(out, "{\"lagged\":{\"first_missed\":%llu,\"last_missed\":%llu,\"count\":%llu}}\n",
                (unsigned long long)it->first_missed, (unsigned long long)it->last_missed,
                (unsigned long long)(it->last_missed - it->first_missed + 1));
        return 0;
    case SLIPSTREAM_ITEM_PRODUCER:
        if (it->producer_change == SLIPSTREAM_PRODUCER_DIED)
            fprintf(out, "{\"producer\":{\"change\":\"died\",\"pid\":%u,\"epoch\":%llu}}\n", it->pid,
                    (unsigned long long)it->epoch);
        else if (it->producer_change == SLIPSTREAM_PRODUCER_CLOSED)
            fprintf(out, "{\"producer\":{\"change\":\"closed\",\"epoch\":%llu}}\n",
                    (unsigned long long)it->epoch);
        else
            fprintf(out, "{\"producer\":{\"change\":\"restarted\",\"pid\":%u,\"epoch\":%llu}}\n",
                    it->pid, (unsigned long long)it->epoch);
        return 0;
    case SLIPSTREAM_ITEM_UNDECODABLE:
        /* The error text is ASCII from the SDK; escape quotes and backslashes. */
        fprintf(out, "{\"undecodable\":{\"seq\":%llu,\"kind\":%u,\"error\":\"",
                (unsigned long long)it->seq, it->event_kind);
        for (size_t i = 0; i < it->error.len; i++) {
            if (it->error.ptr[i] == '"' || it->error.ptr[i] == '\\') fputc('\\', out);
            fputc(it->error.ptr[i], out);
        }
        fputs("\"}}\n", out);
        return 0;
    }
    return 0;
}

static int parse_from(const char *s, slipstream_options_t *o) {
    char *end;
    if (strcmp(s, "oldest") == 0) o->start = SLIPSTREAM_START_OLDEST;
    else if (strcmp(s, "newest") == 0) o->start = SLIPSTREAM_START_NEWEST;
    else if (strcmp(s, "end") == 0) o->start = SLIPSTREAM_START_END;
    else if (strncmp(s, "height:", 7) == 0) {
        o->start = SLIPSTREAM_START_HEIGHT;
        o->start_at = strtoull(s + 7, &end, 10);
        if (*end) return -1;
    } else {
        o->start = SLIPSTREAM_START_SEQ;
        o->start_at = strtoull(s, &end, 10);
        if (*end || end == s) return -1;
    }
    return 0;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(slipstream_consumer_t *c, slipstream_status_t st, const char *what) {
    fprintf(stderr, "tail: %s: %s: %s\n", what, slipstream_status_name(st), slipstream_consumer_error(c));
    slipstream_consumer_close(c);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s RING [--from WHERE] [--name NAME] [--no-follow | --idle-ms N]\n", argv[0]);
        return 2;
    }
    slipstream_options_t opts;
    slipstream_options_init(&opts);
    int no_follow = 0;
    long long idle_ms = -1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--no-follow") == 0) no_follow = 1;
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            if (parse_from(argv[++i], &opts) != 0) {
                fprintf(stderr, "tail: --from %s: not oldest, newest, end, SEQ or height:H\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) opts.name = argv[++i];
        else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc) idle_ms = atoll(argv[++i]);
        else {
            fprintf(stderr, "tail: unknown argument %s\n", argv[i]);
            return 2;
        }
    }

    char err[512];
    slipstream_consumer_t *c = NULL;
    slipstream_status_t st = slipstream_consumer_open(argv[1], &opts, &c, err, sizeof err);
    if (st != SLIPSTREAM_OK) {
        fprintf(stderr, "tail: cannot attach: %s: %s\n", slipstream_status_name(st), err);
        return 1;
    }
    FILE *out = stdout;
    slipstream_item_t item;

    if (no_follow) {
        for (;;) {
            st = slipstream_consumer_next(c, 0, &item);
            if (st != SLIPSTREAM_OK && st != SLIPSTREAM_ERR_DECODE) return fail(c, st, "read");
            /* The ring holds nothing more: idle, or (only ever reported
             * when idle) news of the producer, which slipstream-tail
             * --no-follow does not wait for either. */
            if (item.kind == SLIPSTREAM_ITEM_IDLE || item.kind == SLIPSTREAM_ITEM_PRODUCER) break;
            print_item(out, &item);
        }
    } else {
        int fd = -1;
        st = slipstream_consumer_fd(c, &fd);
        if (st != SLIPSTREAM_OK) return fail(c, st, "readiness fd");
        long long last = now_ms();
        for (;;) {
            /* Drain: read until idle (which re-arms the fd), then wait in poll. */
            for (;;) {
                st = slipstream_consumer_next(c, 0, &item);
                if (st != SLIPSTREAM_OK && st != SLIPSTREAM_ERR_DECODE) return fail(c, st, "read");
                if (item.kind == SLIPSTREAM_ITEM_IDLE) break;
                print_item(out, &item);
                last = now_ms();
            }
            fflush(out);
            int wait = -1;
            if (idle_ms >= 0) {
                long long left = last + idle_ms - now_ms();
                if (left <= 0) break;
                wait = (int)left;
            }
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, wait) < 0 && errno != EINTR) {
                perror("tail: poll");
                slipstream_consumer_close(c);
                return 1;
            }
        }
    }
    if (fflush(out) != 0) {
        perror("tail: write");
        slipstream_consumer_close(c);
        return 1;
    }
    st = slipstream_consumer_close(c);
    if (st != SLIPSTREAM_OK) {
        fprintf(stderr, "tail: close: %s\n", slipstream_status_name(st));
        return 1;
    }
    return 0;
}
