"""Type stubs of the native module slipstream._slipstream."""

from __future__ import annotations

import os
import pathlib
from typing import Iterable, Iterator, List, Optional, Union

__version__: str
KINDS: List[str]

_Names = Union[str, bytes, Iterable[Union[str, bytes]]]

class SlipstreamError(Exception):
    """Any error of the Slipstream consumer."""

class RingNotFoundError(SlipstreamError):
    """The ring file does not exist."""

class NotARingError(SlipstreamError):
    """The file is not a usable ring."""

class CursorError(SlipstreamError):
    """The named cursor could not be claimed."""

class NotRetainedError(SlipstreamError):
    """The start position is not in the ring."""

class CorruptRingError(SlipstreamError):
    """The ring holds data that cannot be valid."""

class JournalError(SlipstreamError):
    """The journal could not serve the start position, or holds bytes that are not valid."""

class Event:
    """An event of the ring. Attributes that do not apply to its kind are None."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str:
        """"mapping_update", "mapping_removal", "staking_reward", "block", "block_begin" or "block_commit"."""
    @property
    def block_height(self) -> int: ...
    @property
    def ordinal(self) -> int: ...
    @property
    def program_id(self) -> Optional[bytes]: ...
    @property
    def mapping_name(self) -> Optional[bytes]: ...
    @property
    def key(self) -> Optional[bytes]:
        """The entry's key (None for other kinds and for the removal of a whole mapping)."""
    @property
    def value(self) -> Optional[bytes]: ...
    @property
    def staker(self) -> Optional[bytes]: ...
    @property
    def validator(self) -> Optional[bytes]: ...
    @property
    def reward(self) -> Optional[int]: ...
    @property
    def new_stake(self) -> Optional[int]: ...
    @property
    def block(self) -> Optional[bytes]: ...
    @property
    def event_count(self) -> Optional[int]: ...
    @property
    def payload(self) -> bytes: ...

class Lagged:
    """Events were overwritten before this consumer read them; reading goes on after them."""

    @property
    def first_missed(self) -> int: ...
    @property
    def last_missed(self) -> int: ...
    @property
    def first_height(self) -> int | None:
        """Height of the first block with a missed event (None: unknown)."""
    @property
    def last_height(self) -> int | None:
        """Height of the last block with a missed event (None: unknown)."""
    @property
    def first_partial(self) -> bool:
        """Whether the first of those blocks was only partly missed."""
    @property
    def last_partial(self) -> bool:
        """Whether the last of those blocks was only partly missed."""
    @property
    def count(self) -> int: ...

class ProducerChange:
    """The producer died, closed the ring, or was restarted."""

    @property
    def change(self) -> str:
        """"died", "closed" or "restarted"."""
    @property
    def pid(self) -> Optional[int]: ...
    @property
    def epoch(self) -> int: ...

class Undecodable:
    """An event whose payload does not decode; the consumer has moved past it."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def error(self) -> str: ...

class Block:
    """The events of one committed block."""

    @property
    def height(self) -> int: ...
    @property
    def begin_seq(self) -> int: ...
    @property
    def commit_seq(self) -> int: ...
    @property
    def events(self) -> List[Event]: ...
    def __len__(self) -> int: ...

class IncompleteBlock:
    """A block began and did not commit; its events were dropped."""

    @property
    def height(self) -> int: ...
    @property
    def first_seq(self) -> int:
        """The sequence number of its begin marker."""
    @property
    def last_seq(self) -> int:
        """The sequence number of its last record read."""
    @property
    def reason(self) -> str: ...

_Item = Union[Event, Lagged, ProducerChange, Undecodable]

class Consumer:
    def __init__(
        self,
        ring: Union[str, os.PathLike[str]],
        name: Optional[str] = None,
        start: Union[str, int, None] = None,
        kinds: Union[str, Iterable[str], None] = None,
        programs: Optional[_Names] = None,
        mappings: Optional[_Names] = None,
        reset: bool = False,
        auto_commit: bool = True,
        on_lag: str = "oldest",
        wait: float = 0.0,
        journal: Union[str, os.PathLike[str], None] = None,
    ) -> None: ...
    def next(self, timeout: Optional[float] = None) -> Optional[_Item]:
        """The next item, waiting up to timeout seconds (None: until one comes); None if none came."""
    def next_batch(self, max: int = 1024, timeout: Optional[float] = 0.0) -> List[_Item]:
        """Up to max items ready now, after waiting up to timeout seconds for the first."""
    def next_block(self, timeout: Optional[float] = None) -> Union[Block, Lagged, IncompleteBlock, ProducerChange, None]:
        """The next complete block (or a lag, an incomplete block, a producer change); None if none came."""
    def commit(self) -> None: ...
    def fileno(self) -> int:
        """A file descriptor readable when the consumer may have an item (level-triggered)."""
    @property
    def next_seq(self) -> int: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Consumer: ...
    def __exit__(self, *args: object) -> bool: ...
    def __iter__(self) -> Iterator[_Item]: ...
    def __next__(self) -> _Item: ...
