"""New cases' data keys made ahead, a batch per durable commit (issue 19's cost).

Making one data key a case costs the key store a durable commit (an fsync: ~0.7 ms a new case
measured here, a fifth of a case's whole path through the engine). So a process makes
``BATCH`` keys in one key-store transaction and hands them out one per new case; each next
batch of the process is twice as large, up to ``LARGEST_BATCH`` (a short command leaves few
keys unused, a long-running engine commits keys rarely). Each key of a
batch is a ``data_keys`` row of kind ``pool`` named by a random reference (``p-`` and 16 hex
digits), wrapped like every data key but bound to its reference instead of a case. The case
store records which reference seals a case (``case_keys``, in the transaction of the case's
first sealed value): a name, not a key. So:

- a key is durable before any value is sealed under it (its batch committed first);
- a case's key is found wherever the case store is read, through its ``case_keys`` row;
- crypto-shredding deletes the referenced row, as it deletes a case-named one;
- a key handed out whose case never committed (a refused command, a crash) is left unused: it
  seals nothing. ``keys status`` counts batch keys with the rest.

A batch belongs to one process (and one store, its scope): two processes never hand out the
same key. Keys made before this (named by their case) are found by case id, as before.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from jiekun.persistence.vault_crypto import KEY_BYTES

BATCH = 32  # keys in a process's first batch: one fsync for 32 new cases
LARGEST_BATCH = 512
POOL = "pool"  # the data_keys kind of a batch key; its case_id column holds the reference

_PENDING: dict[tuple[str, int, str], list[tuple[str, bytes]]] = {}
_MADE: dict[tuple[str, int, str], int] = {}  # batches made so far
_PENDING_LOCK = threading.Lock()


def new_reference() -> str:
    return "p-" + secrets.token_hex(8)


def batch_size(made: int) -> int:
    """The size of a process's next batch when it has made ``made`` before."""
    return min(LARGEST_BATCH, BATCH << min(made, 8))


def take(keystore: str, scope: str, algorithm: str,
         make_batch: Callable[[list[tuple[str, bytes]]], None]) -> tuple[str, bytes]:
    """A fresh key of this process's batch for ``scope`` (reference, key bytes); a new batch
    made (and committed by ``make_batch``) when none is left."""
    where = (keystore, os.getpid(), scope + "\x00" + algorithm)
    with _PENDING_LOCK:
        left = _PENDING.setdefault(where, [])
        if not left:
            size = batch_size(_MADE.get(where, 0))
            batch = [(new_reference(), os.urandom(KEY_BYTES[algorithm])) for _ in range(size)]
            make_batch(batch)  # durable before any of them is handed out
            _MADE[where] = _MADE.get(where, 0) + 1
            left.extend(reversed(batch))
        return left.pop()


def rows_of(batch: list[tuple[str, bytes]], scope: str, master: str, algorithm: str,
            wrap: Callable[[str, bytes], bytes], now: str) -> list[tuple[Any, ...]]:
    """The ``data_keys`` rows of a batch (``wrap(reference, key)`` wraps one key)."""
    return [(scope, POOL, reference, master, algorithm, wrap(reference, key), now)
            for reference, key in batch]
