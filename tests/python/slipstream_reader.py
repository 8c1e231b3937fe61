#!/usr/bin/env python3
"""A reader of Slipstream ring files, written from ring/FORMAT.md alone.

Standard library only. It maps a ring file read-only, validates its header
(FORMAT.md sections 1 and 2), finds a start position (section 6, "Start
positions", with the segment table of section 4), copies, validates and parses
records (sections 3 and 6), reports exactly what it missed when the producer
lapped it (section 6, "Lapped"), decodes every event payload (section 10) and
prints one JSON object per line:

    {"seq": .., "kind": "<name>", "block_height": .., "ordinal": .., <fields>}
    {"lagged": {"first_missed": .., "last_missed": ..}}

Byte strings are printed in hex; a `mapping_removal` without a key has
`"key": null`.

    python3 slipstream_reader.py RING [--from oldest|first] [--follow]

prints the records committed when it starts, then exits; with --follow it
polls on until the producer is gone and everything is read. It never writes to
the ring or its sidecar files: it does not announce sleeping (section 8) or
claim a named cursor (section 9); it polls. Exit status 1, with a message naming the header field or the
position, when the ring is invalid or corrupt.

Memory-model caveat. Section 2 asks for single aligned atomic loads of the
counters, and section 6 for 8-byte atomic loads while copying plus an acquire
fence before re-reading `tail_intent`. Python has neither atomics nor fences.
What is available: indexing a `memoryview(mmap).cast("Q")` reads one aligned
8-byte word with one native load (CPython copies the item into a C
`unsigned long long`), and copying a slice of the mmap (`bytes(view[a:b])`) is
a `memcpy`, which is not guaranteed to use whole-word loads. Torn words in the
copy are harmless because the copy is only used after `tail_intent` says no
byte of it was being written; the missing fences are the real gap (on x86-64,
loads are not reordered with loads, so program order holds; on weaker CPUs
this reader is best effort). Each load below is a separate Python call, so the
compiler of the interpreter cannot merge or reorder them across the calls.
"""

import argparse
import json
import mmap
import os
import struct
import sys
import time

MAGIC = b"SLIPSTRM"
VERSION = 2
U64_MAX = (1 << 64) - 1
KIND_PADDING = 0xFFFF
FIXED_HEADER_LEN = 768  # the header before the segment table (section 2)

# Header offsets of the live counters (section 2).
OFF_EPOCH = 128
OFF_PRODUCER_PID = 136
OFF_PRODUCER_STATE = 140
OFF_PRODUCER_TICKS = 152
OFF_TAIL_INTENT = 256
OFF_TAIL = 384
OFF_LATEST = 392
OFF_SEGMENTS = 768

# Bounds on every loop (section 6, last paragraph).
MAX_LAPS_WITHOUT_PROGRESS = 1000
MAX_SEEK_ATTEMPTS = 100
MIN_BATCH = 8 << 20  # bytes copied per validation, at least

KINDS = {
    1: "mapping_update",
    2: "mapping_removal",
    3: "staking_reward",
    4: "block",
    5: "block_begin",
    6: "block_commit",
}


class RingError(Exception):
    """The ring cannot be read: a bad header, corruption, or a reset."""


class HeaderError(RingError):
    """A header field fails validation; `field` names it."""

    def __init__(self, field, message):
        super().__init__(f"invalid header field `{field}`: {message}")
        self.field = field


class Corrupt(RingError):
    """A check of section 3 failed on a copy that was validated."""

    def __init__(self, pos, message):
        super().__init__(f"corrupt ring at position {pos}: {message}")
        self.pos = pos


def align_up(n, a):
    return (n + a - 1) & ~(a - 1)


def record_len(payload_len):
    return align_up(16 + payload_len, 8)


def is_pow2(n):
    return n > 0 and n & (n - 1) == 0


# --------------------------------------------------------------------------
# Header (sections 1 and 2)

_FIXED = struct.Struct("<8sIIIIQIIQQQQQ48x")
assert _FIXED.size == 128
_FIXED_NAMES = (
    "magic", "version", "flags", "page_size", "header_len", "capacity",
    "max_payload", "segment_count", "data_offset", "file_len", "ring_id",
    "created_unix_ns", "first_seq",
)


def parse_header(fixed, file_size):
    """Validates bytes 0..127 of a ring file (they never change once the ring
    exists, section 2) and returns them as a dict. `file_size` is the file's
    actual length."""
    h = dict(zip(_FIXED_NAMES, _FIXED.unpack(fixed)))
    if h["magic"] == bytes(8):
        raise HeaderError("magic", "all zeros: the ring is not initialised yet")
    if h["magic"] != MAGIC:
        raise HeaderError("magic", f"expected {MAGIC!r}, found {h['magic']!r}")
    if h["version"] != VERSION:
        raise HeaderError("version", f"expected {VERSION}, found {h['version']}")
    # Section 2: a reader refuses any other value.
    if h["flags"] != 0:
        raise HeaderError("flags", f"expected 0, found {h['flags']:#x}")

    page = h["page_size"]
    if not (is_pow2(page) and 64 <= page <= 1 << 20):
        raise HeaderError("page_size", f"{page} is not a power of two from 64 to 1 MiB")
    cap = h["capacity"]
    if not (is_pow2(cap) and 64 <= cap <= 1 << 40):
        raise HeaderError("capacity", f"{cap} is not a power of two from 64 bytes to 1 TiB")
    mp = h["max_payload"]
    if not 0 < mp <= 1 << 30:
        raise HeaderError("max_payload", f"{mp} is not in 1..=2^30")
    if record_len(mp) > cap // 4:
        raise HeaderError(
            "max_payload",
            f"record_len({mp}) = {record_len(mp)} exceeds capacity / 4 = {cap // 4}",
        )
    sc = h["segment_count"]
    if not (is_pow2(sc) and 4 <= sc <= 1024):
        raise HeaderError("segment_count", f"{sc} is not a power of two from 4 to 1024")
    if cap // sc < 16:
        raise HeaderError("segment_count", f"capacity / segment_count = {cap // sc} is below 16")

    header_len = align_up(FIXED_HEADER_LEN + 16 * sc, page)
    data_offset = header_len
    file_len = data_offset + cap
    for field, expected in (
        ("header_len", header_len),
        ("data_offset", data_offset),
        ("file_len", file_len),
    ):
        if h[field] != expected:
            raise HeaderError(
                field, f"stored {h[field]}, but the layout parameters give {expected}"
            )
    # Section 1: 1 <= first_seq < 2^63.
    if not 1 <= h["first_seq"] < 1 << 63:
        raise HeaderError("first_seq", f"{h['first_seq']} is not in 1..2^63")
    if file_size < file_len:
        raise HeaderError(
            "file_len", f"the file is {file_size} bytes, shorter than file_len = {file_len}"
        )
    return h


# --------------------------------------------------------------------------
# Event payloads (section 10)


def decode_event(kind, payload):
    """Decodes one event payload; raises ValueError if it is not the one
    encoding section 10 allows."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind}")
    pos = 0

    def take(n):
        nonlocal pos
        if n > len(payload) - pos:
            raise ValueError(f"{KINDS[kind]} payload truncated at byte {pos}")
        pos += n
        return payload[pos - n:pos]

    def u8():
        return take(1)[0]

    def u32():
        return struct.unpack("<I", take(4))[0]

    def u64():
        return struct.unpack("<Q", take(8))[0]

    def string():
        return take(u32()).hex()

    ev = {"kind": KINDS[kind], "block_height": u64(), "ordinal": u32()}
    if kind == 1:
        ev.update(program_id=string(), mapping_name=string(), key=string(), value=string())
    elif kind == 2:
        ev.update(program_id=string(), mapping_name=string())
        tag = u8()
        if tag not in (0, 1):
            raise ValueError(f"invalid key.tag {tag}")
        ev["key"] = string() if tag == 1 else None
    elif kind == 3:
        ev.update(reward=u64(), new_stake=u64(), staker=string(), validator=string())
    elif kind == 4:
        ev["block"] = string()
    else:
        ev["event_count"] = u32()
        expected = 0 if kind == 5 else min(ev["event_count"] + 1, 0xFFFFFFFF)
        if ev["ordinal"] != expected:
            raise ValueError(f"{KINDS[kind]} ordinal {ev['ordinal']}, expected {expected}")
    if pos != len(payload):
        raise ValueError(f"{len(payload) - pos} trailing bytes")
    return ev


# --------------------------------------------------------------------------
# The ring


class Ring:
    """A ring file mapped read-only."""

    def __init__(self, path):
        if "/" not in path:
            path = os.path.join("/dev/shm", path)  # section 1, "Naming"
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(self.fd).st_size
            if size < FIXED_HEADER_LEN:
                raise HeaderError(
                    "file_len",
                    f"the file is {size} bytes, shorter than the {FIXED_HEADER_LEN}-byte header",
                )
            with open(path, "rb") as f:
                fixed = f.read(128)
            # The magic is written last when a ring is created (section 5).
            # Assumption: FORMAT.md names no fence between the other header
            # fields and the magic; a reader that sees the magic is taken to
            # see the rest (bytes 0..127 never change afterwards).
            self.h = parse_header(fixed, size)
            # Header and data region: the whole file (section 1).
            self.map_len = self.h["file_len"]
            self.mm = mmap.mmap(self.fd, self.map_len, prot=mmap.PROT_READ,
                                flags=mmap.MAP_SHARED)
        except BaseException:
            os.close(self.fd)
            raise
        self.view = memoryview(self.mm)
        self.words = self.view.cast("Q")  # map_len is a multiple of page_size
        self.swap = sys.byteorder != "little"
        self.cap = self.h["capacity"]
        self.mask = self.cap - 1
        self.data = self.h["data_offset"]
        self.nseg = self.h["segment_count"]
        self.seg_size = self.cap // self.nseg
        self.max_payload = self.h["max_payload"]
        self.first_seq = self.h["first_seq"]

    def close(self):
        self.words.release()
        self.view.release()
        self.mm.close()
        os.close(self.fd)

    def load(self, off):
        """One aligned 8-byte load of the word at file offset `off`."""
        v = self.words[off >> 3]
        if self.swap:
            v = int.from_bytes(v.to_bytes(8, "big"), "little")
        return v

    def tail(self):
        return self.load(OFF_TAIL)

    def tail_intent(self):
        return self.load(OFF_TAIL_INTENT)

    def latest(self):
        return self.load(OFF_LATEST)

    def copy(self, pos, n):
        """Copies `n` bytes of the stream from position `pos` (wrapping at the
        end of the data region) into private memory."""
        out = bytearray()
        while n > 0:
            off = pos & self.mask
            k = min(n, self.cap - off)
            out += self.view[self.data + off:self.data + off + k]
            pos += k
            n -= k
        return bytes(out)

    def producer_alive(self):
        """Section 7, "Liveness": producer_state = 1, a process producer_pid
        exists (kill(pid, 0) succeeds or says EPERM), is not a zombie, and
        started at producer_start_ticks (field 22 of /proc/PID/stat)."""
        word = self.load(OFF_PRODUCER_PID)
        pid, state = word & 0xFFFFFFFF, word >> 32
        ticks = self.load(OFF_PRODUCER_TICKS)
        if state != 1 or pid == 0 or pid > 0x7FFFFFFF:
            return False
        try:
            os.kill(pid, 0)
        except PermissionError:
            pass
        except OSError:
            return False
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            return True  # /proc hidden: the process exists
        fields = text[text.rindex(")") + 1:].split()
        if fields[0] in ("Z", "X", "x"):
            return False
        return ticks == 0 or int(fields[19]) == ticks

    def producer_running(self):
        """Whether a producer may still commit records (section 7)."""
        return self.producer_alive()

    # -- sections 4 and 6: finding a record -------------------------------

    def _check_record_at(self, pos, tail, expected_seq):
        """Copies and validates the header of the record at `pos` and returns
        its seq, or None if `pos` is not a usable start (overwritten while
        copied, not a real record there, or not carrying `expected_seq` when
        that is given)."""
        off = pos & self.mask
        if pos % 8 or pos >= tail or self.cap - off < 16:
            return None
        head = self.copy(pos, 16)
        # acquire fence: not available in Python (see the module docstring)
        if self.tail_intent() > pos + self.cap:
            return None  # overwritten while we copied it
        word, seq = struct.unpack("<QQ", head)
        length, kind = word & 0xFFFFFFFF, (word >> 32) & 0xFFFF
        if kind in (0, KIND_PADDING) or length > self.max_payload:
            return None
        rl = record_len(length)
        if rl > self.cap - off or rl > tail - pos:
            return None
        if seq == U64_MAX or (expected_seq is not None and seq != expected_seq):
            return None
        return seq

    def check_intent(self, intent, tail):
        """Section 6, step 1: tail_intent more than a lap past a tail loaded
        after it is corruption, not a lap."""
        if intent - tail > self.cap and intent - self.tail() > self.cap:
            raise Corrupt(tail, f"tail_intent {intent} is more than the capacity past tail")

    def check_latest(self, latest):
        """Section 6: an unaligned latest, or one not below a tail loaded
        after it, is corruption."""
        if latest % 8 or latest >= self.tail():
            raise Corrupt(latest, "latest is unaligned or not below tail")

    def usable_entries(self, tail, intent, at_least=0):
        """Segment entries that pass section 4's static checks, oldest first:
        (pos, seq) pairs with pos >= at_least."""
        # Assumption: while the ring has not been filled once,
        # `tail_intent - capacity` is negative (it would wrap as a u64); the
        # bound is then 0.
        low = max(intent - self.cap, 0, at_least)
        found = []
        for i in range(self.nseg):
            pos = self.load(OFF_SEGMENTS + 16 * i)
            seq = self.load(OFF_SEGMENTS + 16 * i + 8)
            if pos % 8 or (pos // self.seg_size) % self.nseg != i:
                continue
            if not low <= pos < tail:
                continue
            found.append((pos, seq))
        found.sort()
        return found

    def seek(self, at_least_after_intent=None):
        """Finds a start (pos, seq): the oldest usable segment entry (at or
        after `tail_intent - capacity + at_least_after_intent` when given),
        else the record at `latest`. Returns None for an empty ring."""
        for _ in range(MAX_SEEK_ATTEMPTS):
            tail = self.tail()
            intent = self.tail_intent()
            if tail % 8:
                raise Corrupt(tail, "tail is not 8-aligned")
            if intent < tail:
                raise Corrupt(tail, f"tail_intent {intent} is below tail {tail}")
            self.check_intent(intent, tail)
            at_least = 0
            if at_least_after_intent is not None:
                at_least = max(intent - self.cap, 0) + at_least_after_intent
            candidates = self.usable_entries(tail, intent, at_least)
            if not candidates and at_least:
                # Assumption: no usable entry after the headroom; take the
                # oldest usable one at all rather than jump to `latest`.
                candidates = self.usable_entries(tail, intent)
            for pos, seq in candidates:
                if self._check_record_at(pos, tail, seq) is not None:
                    return pos, seq
            latest = self.latest()
            if latest == U64_MAX:
                if tail == 0:
                    return None
                # Section 6, "Start positions": the first record was
                # committed and `latest` not stored yet; it is at 0.
                if tail > record_len(self.max_payload):
                    raise Corrupt(tail, "latest is 2^64-1 but tail is past a first record")
                latest = 0
            self.check_latest(latest)
            seq = self._check_record_at(latest, tail, None)
            if seq is not None:
                return latest, seq
        raise RingError(f"could not find a start position in {MAX_SEEK_ATTEMPTS} attempts")


class Reader:
    """Reads records from a position `p` expecting sequence `s` there."""

    def __init__(self, ring, start):
        self.ring = ring
        self.laps = 0
        if start == "first":
            self.p, self.s = 0, ring.first_seq
        else:
            found = ring.seek()
            if found is None:
                self.p, self.s = 0, ring.first_seq
            else:
                self.p, self.s = found
        self.batch = max(MIN_BATCH, 2 * record_len(ring.max_payload))

    def _lapped(self):
        """Section 6, "Lapped": resume at the oldest usable entry at or after
        `tail_intent - capacity + capacity / 8` and report the gap."""
        self.laps += 1
        if self.laps > MAX_LAPS_WITHOUT_PROGRESS:
            raise RingError(f"lapped {self.laps - 1} times in a row without reading a record")
        found = self.ring.seek(at_least_after_intent=self.ring.cap // 8)
        if found is None:
            raise RingError(f"the ring is empty after being lapped at position {self.p}")
        pos, seq = found
        # Section 6, "Lapped": a found seq equal to s means nothing was lost
        # (the reader sat on a padding record); below s is corruption.
        if seq < self.s:
            raise RingError(
                f"lapped at seq {self.s}, but the oldest record found carries seq {seq}")
        items = []
        if seq > self.s:
            items.append({"lagged": {"first_missed": self.s, "last_missed": seq - 1}})
        self.p, self.s = pos, seq
        return items

    def poll(self):
        """One batch (section 6, steps 1-5): returns a list of items (events
        and lags), empty when there is nothing new."""
        r = self.ring
        p, cap = self.p, r.cap
        tail = r.tail()  # step 1 (acquire: see the module docstring)
        intent = r.tail_intent()
        if tail % 8:
            raise Corrupt(tail, "tail is not 8-aligned")
        if intent < tail:
            raise Corrupt(tail, f"tail_intent {intent} is below tail {tail}")
        r.check_intent(intent, tail)
        if tail == p:
            return []
        if tail < p:
            raise RingError(f"tail {tail} is behind the reader's position {p}: "
                            "the ring was reset or is corrupt")
        if tail - p > cap:
            return self._lapped()
        n = min(tail - p, self.batch)
        copy = r.copy(p, n)  # step 2
        # step 3: acquire fence (not available), then tail_intent.
        if r.tail_intent() > p + cap:
            return self._lapped()
        # Step 4: parse the valid copy; every failing check is corruption.
        records = []
        q = p
        s = self.s
        end = p + n
        after_padding = False
        done_q, done_s = p, s  # after the last complete real record
        while q < end:
            if end - q < 8:
                break  # the rest is in the next batch
            i = q - p
            word = int.from_bytes(copy[i:i + 8], "little")
            length, kind = word & 0xFFFFFFFF, (word >> 32) & 0xFFFF
            to_end = cap - (q & r.mask)
            if kind == 0:
                raise Corrupt(q, "kind 0")
            if kind == KIND_PADDING:
                if after_padding:
                    raise Corrupt(q, "two padding records in a row")
                if length != to_end:
                    raise Corrupt(q, f"padding of {length} bytes, {to_end} to the end")
                # Compared with tail - q, never q + length (section 3).
                if length >= tail - q:
                    # Section 3: "A padding record is always followed by a
                    # committed record in the same commit."
                    raise Corrupt(q, "padding reaches tail with no record after it")
                after_padding = True
                q += length
                continue
            if length > r.max_payload:
                raise Corrupt(q, f"len {length} exceeds max_payload {r.max_payload}")
            rl = record_len(length)
            if rl > to_end:
                raise Corrupt(q, f"a record of {rl} bytes crosses the end of the data region")
            if rl > tail - q:
                raise Corrupt(q, f"a record of {rl} bytes extends past tail {tail}")
            if rl > end - q:
                break  # the rest is in the next batch
            seq = int.from_bytes(copy[i + 8:i + 16], "little")
            if seq != s:
                raise Corrupt(q, f"seq {seq}, expected {s}")
            if seq == U64_MAX:
                raise Corrupt(q, "seq 2^64-1")
            records.append((q, seq, kind, copy[i + 16:i + 16 + length]))
            s += 1
            q += rl
            after_padding = False
            done_q, done_s = q, s
        if not records:
            raise RingError(f"no complete record in a batch of {n} bytes at position {p}")
        # Step 5.
        self.p, self.s = done_q, done_s
        self.laps = 0
        items = []
        for pos, seq, kind, payload in records:
            try:
                ev = decode_event(kind, payload)
            except ValueError as e:
                raise RingError(f"record seq {seq} at position {pos}: {e}") from None
            items.append({"seq": seq, **ev})
        return items


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Print the committed records of a Slipstream ring as JSON lines "
        "(a reader written from ring/FORMAT.md).")
    ap.add_argument("ring", help="the ring file (a bare name is a file in /dev/shm)")
    ap.add_argument("--from", dest="start", choices=("oldest", "first"), default="oldest",
                    help="start at the oldest retained record (segment table), or at "
                    "position 0 / first_seq (a lag is reported if it was overwritten)")
    ap.add_argument("--follow", action="store_true",
                    help="after the records committed at the start, go on polling until "
                    "the producer has closed the ring (or died) and every record is read")
    ap.add_argument("--poll-interval", type=float, default=0.001, metavar="SECONDS",
                    help="with --follow: sleep between polls that find nothing new")
    ap.add_argument("--status", action="store_true",
                    help="print the header and the producer's liveness to stderr")
    args = ap.parse_args(argv)
    try:
        ring = Ring(args.ring)
    except (OSError, RingError) as e:
        print(f"slipstream_reader: {args.ring}: {e}", file=sys.stderr)
        return 1
    try:
        if args.status:
            info = {k: v for k, v in ring.h.items() if k != "magic"}
            info["epoch"] = ring.load(OFF_EPOCH)
            info["producer_state"] = ring.load(OFF_PRODUCER_PID) >> 32
            info["producer_start_ticks"] = ring.load(OFF_PRODUCER_TICKS)
            info["producer_pid"] = ring.load(OFF_PRODUCER_PID) & 0xFFFFFFFF
            info["producer_alive"] = ring.producer_alive()
            info["tail"], info["tail_intent"] = ring.tail(), ring.tail_intent()
            print(json.dumps(info), file=sys.stderr)
        reader = Reader(ring, args.start)
        out = sys.stdout

        def emit(items):
            for item in items:
                out.write(json.dumps(item, separators=(",", ":")))
                out.write("\n")

        # Print what is committed now.
        stop_at = ring.tail()
        while reader.p < stop_at:
            before = reader.p
            items = reader.poll()
            if not items and reader.p == before:
                raise RingError(f"tail went back below {stop_at}")
            emit(items)
        # Then, with --follow, poll (section 8: a reader that does not
        # announce itself polls) until the producer is gone and all is read.
        while args.follow:
            before = reader.p
            items = reader.poll()
            emit(items)
            if items or reader.p != before:
                continue
            out.flush()
            if not ring.producer_running():
                # The producer is gone; its last commit may have come after
                # this poll's load of tail: poll once more.
                before = reader.p
                items = reader.poll()
                emit(items)
                if not items and reader.p == before:
                    break
                continue
            time.sleep(args.poll_interval)
        out.flush()
    except RingError as e:
        sys.stdout.flush()
        print(f"slipstream_reader: {args.ring}: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        ring.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
