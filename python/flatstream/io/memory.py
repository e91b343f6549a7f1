"""Memory policies: when the writer's builder or the reader's buffer should be
given back after a burst of large messages (the Rust crate's ``policy`` module).

A policy is asked after each message ``should_reset(last_message_size,
current_capacity)`` and answers a :class:`ReclamationReason` or ``None``. After
a reset its ``on_reclaim(info)`` hook (and the ``on_reclaim`` callback you
passed) is called with a :class:`ReclamationInfo`. A reset never invalidates a
payload already handed out: the old buffer lives on while a view of it does.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = [
    "ReclamationReason",
    "ReclamationInfo",
    "MemoryPolicy",
    "NoOpPolicy",
    "AdaptiveWatermarkPolicy",
    "SizeThresholdPolicy",
    "BASELINE_CAPACITY",
]

#: What a reset shrinks a builder or buffer back to.
BASELINE_CAPACITY = 16 * 1024


class ReclamationReason(enum.Enum):
    MESSAGE_COUNT = "message_count"
    TIME_COOLDOWN = "time_cooldown"
    SIZE_THRESHOLD = "size_threshold"


@dataclass(frozen=True)
class ReclamationInfo:
    reason: ReclamationReason
    last_message_size: int
    capacity_before: int
    capacity_after: int


class MemoryPolicy:
    """Base class: never resets. Subclass and override ``should_reset``."""

    def __init__(self, on_reclaim: Optional[Callable[[ReclamationInfo], object]] = None) -> None:
        self._on_reclaim = on_reclaim

    def should_reset(
        self, last_message_size: int, current_capacity: int
    ) -> Optional[ReclamationReason]:
        return None

    def on_reclaim(self, info: ReclamationInfo) -> None:
        if self._on_reclaim is not None:
            self._on_reclaim(info)


class NoOpPolicy(MemoryPolicy):
    """Never resets (the default)."""


class AdaptiveWatermarkPolicy(MemoryPolicy):
    """Resets when the capacity has stayed at least ``shrink_multiple`` times the
    message size for ``messages_to_wait`` messages in a row, or, with a
    ``cooldown`` in seconds, for that long. A capacity at or below
    ``min_capacity`` never counts as over-provisioned: pass
    ``BASELINE_CAPACITY`` to stop resets that could not shrink anything (the
    default, 0, is the Rust crate's behaviour)."""

    def __init__(
        self,
        shrink_multiple: int = 4,
        messages_to_wait: int = 5,
        cooldown: Optional[float] = None,
        on_reclaim: Optional[Callable[[ReclamationInfo], object]] = None,
        min_capacity: int = 0,
    ) -> None:
        super().__init__(on_reclaim)
        self.min_capacity = min_capacity
        self.shrink_multiple = shrink_multiple
        self.messages_to_wait = messages_to_wait
        self.cooldown = cooldown
        self._over_count = 0
        self._over_since: Optional[float] = None

    def should_reset(
        self, last_message_size: int, current_capacity: int
    ) -> Optional[ReclamationReason]:
        if last_message_size == 0:  # no signal either way
            self._over_count = 0
            self._over_since = None
            return None
        over = (
            current_capacity > self.min_capacity
            and current_capacity >= last_message_size * self.shrink_multiple
        )
        now = time.monotonic() if self.cooldown is not None else None
        if not over:
            self._over_count = 0
            self._over_since = None
            return None
        self._over_count += 1
        if self._over_since is None:
            self._over_since = now
        time_ok = (
            self.cooldown is not None
            and self._over_since is not None
            and now is not None
            and now - self._over_since >= self.cooldown
        )
        if time_ok or self._over_count >= self.messages_to_wait:
            self._over_count = 0
            self._over_since = now
            return ReclamationReason.TIME_COOLDOWN if time_ok else ReclamationReason.MESSAGE_COUNT
        return None


class SizeThresholdPolicy(MemoryPolicy):
    """After a message larger than ``grow_above_bytes``, resets once
    ``messages_to_wait`` consecutive messages were smaller than ``shrink_below_bytes``."""

    def __init__(
        self,
        grow_above_bytes: int = 1 << 20,
        shrink_below_bytes: int = 1 << 10,
        messages_to_wait: int = 8,
        on_reclaim: Optional[Callable[[ReclamationInfo], object]] = None,
    ) -> None:
        super().__init__(on_reclaim)
        self.grow_above_bytes = grow_above_bytes
        self.shrink_below_bytes = shrink_below_bytes
        self.messages_to_wait = messages_to_wait
        self._large_seen = False
        self._small_count = 0

    def should_reset(
        self, last_message_size: int, current_capacity: int
    ) -> Optional[ReclamationReason]:
        if last_message_size > self.grow_above_bytes:
            self._large_seen = True
            self._small_count = 0
            return None
        if not self._large_seen:
            return None
        if last_message_size < self.shrink_below_bytes:
            self._small_count += 1
            if self._small_count >= self.messages_to_wait:
                self._large_seen = False
                self._small_count = 0
                return ReclamationReason.SIZE_THRESHOLD
        else:
            self._small_count = 0
        return None
