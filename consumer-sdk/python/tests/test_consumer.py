"""The Python package against rings written by slipstream-sim."""

from __future__ import annotations

import asyncio
import json
import select
import threading
import time

import pytest

import slipstream
from conftest import SMALL


def read_all(c: slipstream.Consumer) -> list:
    items = []
    while True:
        batch = c.next_batch(4096, timeout=0)
        if not batch:
            return items
        items.extend(batch)


def name_field(out: dict, key: str, raw: bytes) -> None:
    """As slipstream-tail: text when printable UTF-8, else hex in KEY_hex."""
    try:
        text = raw.decode("utf-8")
        if text and not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text):
            out[key] = text
            return
    except UnicodeDecodeError:
        pass
    out[key + "_hex"] = raw.hex()


def as_tail_json(item) -> dict:
    """An item in slipstream-tail --json's form."""
    if isinstance(item, slipstream.Lagged):
        return {"lagged": {"first_missed": item.first_missed, "last_missed": item.last_missed, "count": item.count}}
    if isinstance(item, slipstream.ProducerChange):
        d = {"change": item.change, "pid": item.pid, "epoch": item.epoch}
        if item.pid is None:
            del d["pid"]
        return {"producer": d}
    assert isinstance(item, slipstream.Event), item
    out = {"seq": item.seq, "kind": item.kind, "block_height": item.block_height, "ordinal": item.ordinal}
    if item.kind in ("mapping_update", "mapping_removal"):
        name_field(out, "program_id", item.program_id)
        name_field(out, "mapping_name", item.mapping_name)
        out["key"] = None if item.key is None else item.key.hex()
        if item.kind == "mapping_update":
            out["value"] = item.value.hex()
    elif item.kind == "staking_reward":
        out.update(staker=item.staker.hex(), validator=item.validator.hex(), reward=item.reward, new_stake=item.new_stake)
    elif item.kind == "block":
        out["block_len"] = len(item.block)
        out["block"] = item.block.hex()
    else:
        out["event_count"] = item.event_count
    return out


def test_a_whole_stream_matches_slipstream_tail_json(ring):
    ring.sim("--blocks", "8", *SMALL)
    expected = [json.loads(line) for line in ring.tail_json("--from", "oldest")]
    with slipstream.Consumer(ring.path, start="oldest") as c:
        got = [as_tail_json(i) for i in read_all(c)]
    assert len(expected) > 100
    assert got == expected
    kinds = {e.get("kind") for e in expected}
    assert kinds == set(slipstream.KINDS), kinds


def test_items_are_typed_with_attributes(ring):
    ring.sim("--blocks", "2", *SMALL)
    c = slipstream.Consumer(ring.path, start="oldest")
    items = read_all(c)
    assert all(isinstance(i, slipstream.Event) for i in items)
    assert [i.seq for i in items] == list(range(1, len(items) + 1))
    first = items[0]
    assert (first.kind, first.block_height, first.ordinal, first.event_count) == ("block_begin", 1, 0, None)
    update = next(i for i in items if i.kind == "mapping_update")
    assert isinstance(update.key, bytes) and len(update.key) == 32
    assert isinstance(update.value, bytes) and isinstance(update.program_id, bytes)
    assert update.staker is None and update.reward is None and update.block is None
    reward = next(i for i in items if i.kind == "staking_reward")
    assert isinstance(reward.reward, int) and len(reward.staker) == 32 and reward.key is None
    block = next(i for i in items if i.kind == "block")
    assert isinstance(block.block, bytes) and len(block.block) >= 512
    commit = items[-1]
    assert commit.kind == "block_commit" and commit.event_count == commit.ordinal - 1
    assert "Event(seq=" in repr(first)
    assert c.next_seq == len(items) + 1
    assert c.next(timeout=0) is None
    c.close()


def test_starts(ring):
    ring.sim("--blocks", "4", *SMALL)
    all_items = read_all(slipstream.Consumer(ring.path, start="oldest"))
    newest = read_all(slipstream.Consumer(ring.path))  # default: newest
    assert [i.seq for i in newest] == [all_items[-1].seq]
    assert read_all(slipstream.Consumer(ring.path, start="end")) == []
    assert read_all(slipstream.Consumer(ring.path, start=5))[0].seq == 5
    h3 = read_all(slipstream.Consumer(ring.path, start="height:3"))[0]
    assert (h3.kind, h3.block_height) == ("block_begin", 3)
    # A sequence number not written yet is waited for (the delivery contract).
    assert slipstream.Consumer(ring.path, start=10**9).next(timeout=0) is None
    with pytest.raises(ValueError):
        slipstream.Consumer(ring.path, start="yesterday")
    with pytest.raises(TypeError):
        slipstream.Consumer(ring.path, start=1.5)
    with pytest.raises(slipstream.RingNotFoundError):
        slipstream.Consumer(ring.path + "-missing")
    with pytest.raises(ValueError):
        slipstream.Consumer(ring.path, kinds=["no_such_kind"])


def test_filters(ring):
    ring.sim("--blocks", "4", *SMALL)
    updates = read_all(slipstream.Consumer(ring.path, start="oldest", kinds=["mapping_update"]))
    assert updates and all(i.kind == "mapping_update" for i in updates)
    credits = read_all(
        slipstream.Consumer(ring.path, start="oldest", kinds="mapping_update,mapping_removal", programs=["credits.aleo"])
    )
    assert credits and all(i.program_id == b"credits.aleo" for i in credits)
    accounts = read_all(slipstream.Consumer(ring.path, start="oldest", kinds="mapping_update", mappings=b"account"))
    assert accounts and all(i.mapping_name == b"account" for i in accounts)
    assert len(accounts) < len(updates)


def test_next_block(ring):
    ring.sim("--blocks", "3", *SMALL)
    c = slipstream.Consumer(ring.path, start="oldest")
    blocks = [c.next_block(timeout=1), c.next_block(timeout=1), c.next_block(timeout=1)]
    assert [b.height for b in blocks] == [1, 2, 3]
    for b in blocks:
        assert isinstance(b, slipstream.Block)
        assert len(b) == len(b.events) == b.commit_seq - b.begin_seq - 1
        assert all(isinstance(e, slipstream.Event) and e.block_height == b.height for e in b.events)
    closed = c.next_block(timeout=1)  # the simulator has exited
    assert isinstance(closed, slipstream.ProducerChange) and closed.change == "closed"
    assert c.next_block(timeout=0.2) is None


def test_lag_is_an_item_not_an_exception(ring):
    args = ["--capacity", "1MiB", "--max-event", "64KiB", "--block-size", "1KiB", "--events-per-block", "200", "--flat-out"]
    ring.sim("--blocks", "1", *args)
    c = slipstream.Consumer(ring.path, start="oldest")
    ring.sim("--blocks", "200", *args)
    item = c.next(timeout=0)
    assert isinstance(item, slipstream.Lagged)
    assert item.first_missed == 1 and item.last_missed > 1000
    assert item.count == item.last_missed - item.first_missed + 1
    after = c.next(timeout=0)
    assert isinstance(after, slipstream.Event) and after.seq == item.last_missed + 1


def test_producer_changes_are_items(ring):
    ring.sim("--blocks", "1", *SMALL)
    c = slipstream.Consumer(ring.path, start="end")
    item = c.next(timeout=5)
    assert isinstance(item, slipstream.ProducerChange)
    assert (item.change, item.pid, item.epoch) == ("closed", None, 1)
    ring.sim("--blocks", "1", *SMALL)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(isinstance(i, slipstream.Event) for i in seen):
        i = c.next(timeout=1)
        if i is not None:
            seen.append(i)
    assert any(isinstance(i, slipstream.Event) and i.kind == "block_begin" for i in seen), seen


def test_named_cursor_commit_and_context_manager(ring):
    ring.sim("--blocks", "2", *SMALL)
    with slipstream.Consumer(ring.path, name="py-indexer", start="oldest", auto_commit=False) as c:
        assert c.name == "py-indexer"
        assert [c.next(timeout=0).seq for _ in range(3)] == [1, 2, 3]
        c.commit()
        assert c.next(timeout=0).seq == 4  # read, not committed
        with pytest.raises(slipstream.CursorError):
            slipstream.Consumer(ring.path, name="py-indexer")
    assert c.closed
    with pytest.raises(ValueError):
        c.next(timeout=0)
    c.close()  # twice: nothing
    with slipstream.Consumer(ring.path, name="py-indexer", start="oldest") as again:
        assert again.next(timeout=0).seq == 4
        assert again.next(timeout=0).seq == 5
    # auto_commit (the default): on close, what the application moved past
    # counts as processed, never the item in flight (5 comes again).
    with slipstream.Consumer(ring.path, name="py-indexer") as third:
        assert third.next(timeout=0).seq == 5


def test_iteration_waits_for_items(ring):
    ring.sim("--blocks", "1", *SMALL)
    c = slipstream.Consumer(ring.path, start="oldest")
    got = []
    for item in c:
        got.append(item)
        if isinstance(item, slipstream.Event) and item.kind == "block_commit":
            break
    assert got[0].kind == "block_begin" and len(got) == got[-1].ordinal + 1
    c.close()
    assert list(c) == []  # a closed consumer ends iteration


def test_fileno_with_select(ring):
    ring.sim("--blocks", "1", *SMALL)
    c = slipstream.Consumer(ring.path, start="oldest")
    fd = c.fileno()
    assert fd == c.fileno()
    r, _, _ = select.select([fd], [], [], 5)
    assert r == [fd], "events are waiting"
    n = len(read_all(c))
    assert n > 10
    r, _, _ = select.select([fd], [], [], 0.05)
    assert r == [], "read to idle: not readable"
    proc = ring.sim_background("--blocks", "1", *SMALL)
    proc.wait(timeout=30)
    r, _, _ = select.select([c], [], [], 5)  # fileno() objects work too
    assert r == [c]
    more = read_all(c)
    assert any(isinstance(i, slipstream.Event) for i in more)
    c.close()


def test_async_for(ring):
    ring.sim("--blocks", "1", *SMALL)

    async def run() -> list:
        c = slipstream.Consumer(ring.path, start="oldest")
        got = []
        proc = None
        async for item in c:
            if not isinstance(item, slipstream.Event):
                continue
            got.append(item)
            if item.kind == "block_commit":
                if item.block_height == 1 and proc is None:
                    # Caught up: the rest arrives while the loop sleeps on the fd.
                    proc = ring.sim_background("--rate", "20", "--blocks", "3", *SMALL[1:])
                if item.block_height == 4:
                    break
        proc.wait(timeout=30)
        c.close()
        return got

    got = asyncio.run(asyncio.wait_for(run(), timeout=60))
    heights = [e.block_height for e in got if e.kind == "block_commit"]
    assert heights == [1, 2, 3, 4]
    assert [e.seq for e in got] == list(range(1, len(got) + 1))


def test_blocking_calls_release_the_gil(ring):
    ring.sim("--blocks", "1", *SMALL)
    c = slipstream.Consumer(ring.path, start="end")
    c.next(timeout=1)  # the closed producer's news, out of the way
    span = {}

    def wait() -> None:
        span["start"] = time.monotonic()
        span["item"] = c.next(timeout=1.5)
        span["end"] = time.monotonic()

    t = threading.Thread(target=wait)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.monotonic())  # Python bytecode: needs the GIL
    t.join()
    assert span["item"] is None
    inside = [x for x in ticks if span["start"] + 0.3 < x < span["end"] - 0.3]
    assert len(inside) > 1000, "the main thread ran no Python while next() waited: the GIL was held"


def test_one_consumer_one_thread_at_a_time(ring):
    ring.sim("--blocks", "1", *SMALL)
    c = slipstream.Consumer(ring.path, start="end")
    c.next(timeout=1)
    errors = []
    started = threading.Event()

    def wait() -> None:
        started.set()
        c.next(timeout=3.0)

    t = threading.Thread(target=wait)
    t.start()
    started.wait(10)
    time.sleep(0.5)  # well inside the other thread's 3 s wait
    try:
        c.next(timeout=0)
    except RuntimeError as e:
        errors.append(str(e))
    t.join()
    assert errors and "another thread" in errors[0]


def test_bad_arguments(ring):
    ring.sim("--blocks", "1", *SMALL)
    with pytest.raises(TypeError):
        slipstream.Consumer(ring.path, programs=[1, 2])
    with pytest.raises(ValueError):
        slipstream.Consumer(ring.path, on_lag="sideways")
    c = slipstream.Consumer(ring.path)
    with pytest.raises(ValueError):
        c.next(timeout=-1)
    assert c.next_batch(0) == []
    with open(ring.path + "-junk", "wb") as f:
        f.write(b"\x07" * 10000)
    try:
        with pytest.raises(slipstream.NotARingError):
            slipstream.Consumer(ring.path + "-junk")
    finally:
        import os

        os.remove(ring.path + "-junk")


def test_type_stubs_cover_the_native_module():
    import ast
    from pathlib import Path

    import slipstream._slipstream as native

    pkg = Path(slipstream.__file__).parent
    assert (pkg / "py.typed").exists()
    tree = ast.parse((pkg / "_slipstream.pyi").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    public = {name for name in dir(native) if not name.startswith("_")}
    stubbed = set(classes) | {
        t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target] if isinstance(t, ast.Name)
    }
    assert public <= stubbed, public - stubbed
    for name, node in classes.items():
        if name.endswith("Error"):
            continue
        members = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        actual = {m for m in dir(getattr(native, name)) if not m.startswith("_")}
        assert actual <= members, f"{name}: no stub for {actual - members}"


def test_journal_catch_up_from_older_than_the_ring(ring, journal_bin, tmp_path):
    """A start older than the ring is served from the journal that
    `slipstream-journal record` keeps, then the ring: no gap, no duplicate."""
    import subprocess

    journal = tmp_path / "journal"
    args = ["--capacity", "64KiB", "--max-event", "8KiB", "--block-size", "512B..2KiB", "--events-per-block", "10..40", "--flat-out"]

    def record() -> None:
        subprocess.run(
            [journal_bin, "record", ring.path, "--dir", str(journal), "-q", "--exit-when-idle", "200ms"],
            check=True,
            timeout=60,
        )

    # In steps that each fit in the ring, so that the recorder is never
    # lapped; together many times the ring's capacity.
    for seed in range(12):
        ring.sim("--blocks", "4", *args, "--seed", str(seed))
        record()
    # Two more steps the journal does not hold yet (the ring does).
    ring.sim("--blocks", "2", *args, "--seed", "99")

    # Without the journal, #1 is long gone.
    with pytest.raises(slipstream.NotRetainedError):
        slipstream.Consumer(ring.path, start=1)

    seqs = []
    with slipstream.Consumer(ring.path, start=1, journal=journal) as c:
        while True:
            batch = c.next_batch(4096, timeout=0)
            if not batch:
                break
            for item in batch:
                assert not isinstance(item, (slipstream.Lagged, slipstream.Undecodable)), item
                if isinstance(item, slipstream.Event):
                    seqs.append(item.seq)
    assert seqs == list(range(1, len(seqs) + 1)), "every event once, in order, from #1"
    # Its end is what slipstream-tail reads from the ring's oldest event.
    tail = [json.loads(line)["seq"] for line in ring.tail_json("--from", "oldest") if line.startswith('{"seq"')]
    assert tail and tail[0] > 1, "the ring was lapped"
    assert seqs[-len(tail):] == tail

    # A directory that holds no journal: a JournalError that says so (a
    # SlipstreamError, as every error of the consumer).
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(slipstream.JournalError, match="holds no events"):
        slipstream.Consumer(ring.path, start=1, journal=str(empty))
    assert issubclass(slipstream.JournalError, slipstream.SlipstreamError)
