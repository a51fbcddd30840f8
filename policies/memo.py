"""A bounded memo for figures the rules derive again and again from the same inputs (issue 18).

Each cache is keyed by everything its value depends on (the policy's content hash, the standard
in force, the application, the calendar …), so a new policy version, a new standard or an
amended application misses. Values held by *identity* (an application) are kept alive by the
entry itself, so an id is never reused while its entry exists.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

V = TypeVar("V")

_MISSING = object()
_switch = {"on": True}


def caching() -> bool:
    """Whether the memos answer (off only inside ``caches_off``)."""
    return _switch["on"]


@contextmanager
def caches_off() -> Iterator[None]:
    """Every memo misses and stores nothing meanwhile: the tests decide a history with and
    without them and compare the reports (not thread-safe: for tests)."""
    before = _switch["on"]
    _switch["on"] = False
    try:
        yield
    finally:
        _switch["on"] = before


class BoundedCache(Generic[V]):
    """At most ``maxsize`` entries, the least recently used dropped first; safe to share
    between threads (a web server's pool deciding on one Decider)."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (counted as a hit), or None (a miss)."""
        if not _switch["on"]:
            return None
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value  # type: ignore[return-value]

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value`` under ``key`` and return it."""
        if not _switch["on"]:
            return value
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry (and the counts)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)
