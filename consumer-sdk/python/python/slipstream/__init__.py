"""Consume a Slipstream ring from Python.

A node's finalize hook writes events (mapping updates and removals, staking
rewards, blocks, block markers) into a ring in shared memory; a ``Consumer``
reads them in order at its own pace, each with its sequence number, over the
Rust consumer SDK::

    import slipstream

    with slipstream.Consumer("node-events", name="my-indexer", start="oldest") as c:
        for item in c:
            if isinstance(item, slipstream.Event):
                print(item.seq, item.kind, item.block_height, item.key)
            elif isinstance(item, slipstream.Lagged):
                print("missed", item.first_missed, "to", item.last_missed)
            elif isinstance(item, slipstream.ProducerChange):
                print("producer", item.change)

Lags and producer changes are items, never exceptions. ``next_batch`` reads
many events per call (the fast way); ``next_block`` reads whole blocks;
``fileno`` and ``async for`` integrate with select and asyncio.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Union

from ._slipstream import (
    KINDS,
    Block,
    CorruptRingError,
    CursorError,
    Event,
    IncompleteBlock,
    JournalError,
    Lagged,
    NotARingError,
    NotRetainedError,
    ProducerChange,
    RingNotFoundError,
    SlipstreamError,
    Undecodable,
    __version__,
)
from ._slipstream import Consumer as _NativeConsumer

Item = Union[Event, Lagged, ProducerChange, Undecodable]
BlockResult = Union[Block, Lagged, IncompleteBlock, ProducerChange]

__all__ = [
    "KINDS",
    "Block",
    "BlockResult",
    "Consumer",
    "CorruptRingError",
    "CursorError",
    "Event",
    "IncompleteBlock",
    "Item",
    "JournalError",
    "Lagged",
    "NotARingError",
    "NotRetainedError",
    "ProducerChange",
    "RingNotFoundError",
    "SlipstreamError",
    "Undecodable",
    "__version__",
]


class Consumer(_NativeConsumer):
    """A consumer of a Slipstream ring (see the module's documentation).

    ``Consumer(ring, name=None, start="newest", kinds=None, programs=None,
    mappings=None, reset=False, auto_commit=True, on_lag="oldest", wait=0.0,
    journal=None)``

    - ``ring``: a path, or a bare name for a file under /dev/shm.
    - ``name``: keep a cursor in the ring under this name and resume from it.
    - ``start``: "oldest", "newest", "end", "height:H", or an int sequence number.
    - ``kinds``: event kind names ("mapping_update", ...) to receive.
    - ``programs`` / ``mappings``: names (str or bytes) whose mapping events to receive.
    - ``journal``: the directory ``slipstream-journal record`` keeps; a start
      older than the ring is served from it, then the ring (no gap, no duplicate).
    """

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Item]:
        loop = asyncio.get_running_loop()
        fd = self.fileno()
        while True:
            items = self.next_batch(1024, timeout=0)
            if items:
                for item in items:
                    yield item
                continue
            # Idle: next_batch re-armed the fd; sleep in the event loop until
            # it is readable (level-triggered, so set the future only once).
            ready = loop.create_future()

            def wake(fut: asyncio.Future = ready) -> None:
                if not fut.done():
                    fut.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
