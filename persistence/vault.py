"""The store's vault as the store's reads and writes use it (issue 19): seals every personal
value before it is written and opens it when read, so everything above ``persistence`` sees
plain text through the same ports as before.

What is sealed, each bound (associated data) to its case, its place and its column:

- ``personal_data.payload`` — place: the event's sequence number;
- ``case_personal.application`` and ``case_personal.applicant_id`` — place ``application``;
- ``cases.personal`` (the projection's personal figures, e.g. ``medical_declared``) — place:
  the case's version.

``case_personal.applicant_key`` holds HMAC-SHA256 of the applicant's id under the store's
index key (R-ONE-OPEN-CASE and a worker's own cases are found by it, never by the number).
Each new personal digest in the chain is salted with a value derived from the case's data key
(``salt``): destroyed with the key, so a digest left after a purge confirms no guess.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from jiekun.persistence.keys import DataKey, KeyProvider, NoEncryption
from jiekun.persistence.vault_crypto import (
    associated_data,
    derive,
    is_sealed,
    keyed_hash,
    open_text,
    seal_text,
)
from jiekun.policies.errors import KeyUnavailable

_CACHED = 4096  # data keys kept in memory (each saves a key-store read and an unwrap)
_SALT = "jiekun personal digest salt/1"
INDEX_PREFIX = "h1:"


class Vault:
    """One store's sealing and opening. ``provider`` None: no key is configured — what is
    sealed stays sealed (E-KEY on every personal read or write), everything else works."""

    def __init__(self, provider: KeyProvider | None, scope: Callable[[], str]) -> None:
        self.provider = provider
        self._scope = scope
        self._scope_text: str | None = None
        self.encrypts = not isinstance(provider, NoEncryption)
        self._keys: OrderedDict[str, DataKey] = OrderedDict()
        self._index: bytes | None = None
        self._lock = threading.Lock()

    @property
    def has_keys(self) -> bool:
        """Whether a key provider is configured (personal data can be read and written)."""
        return self.provider is not None

    def scope(self) -> str:
        """The store's name in the key provider (its origin, read once)."""
        if self._scope_text is None:
            self._scope_text = self._scope()
        return self._scope_text

    def _provider(self) -> KeyProvider:
        if self.provider is None:
            raise KeyUnavailable(
                "no master key is configured for this store: set JIEKUN_MASTER_KEY_FILE, or "
                "pass keys= to Engine.open (chains and projections are readable without it)",
                detail_zh="未配置主密钥（JIEKUN_MASTER_KEY_FILE）")
        return self.provider

    def data_key(self, case_id: str, *, create: bool) -> DataKey | None:
        """The case's data key (cached), made when ``create`` and there is none."""
        with self._lock:
            key = self._keys.get(case_id)
            if key is not None:
                self._keys.move_to_end(case_id)
                return key
        key = self._provider().data_key(self.scope(), case_id, create=create)
        if key is not None:
            with self._lock:
                self._keys[case_id] = key
                if len(self._keys) > _CACHED:
                    self._keys.popitem(last=False)
        return key

    def preload(self, case_ids: list[str]) -> None:
        """Fetch the data keys of ``case_ids`` at once where the provider can
        (``data_keys``), so that opening a chunk of cases does not ask once per case. A key
        that does not unwrap is left for ``open`` to report, case by case."""
        batch = getattr(self.provider, "data_keys", None)
        if batch is None or not self.encrypts:
            return
        with self._lock:
            missing = [c for c in case_ids if c not in self._keys]
        try:
            found: dict[str, DataKey] = batch(self.scope(), missing)
        except KeyUnavailable:
            return
        with self._lock:
            self._keys.update(found)
            while len(self._keys) > max(_CACHED, len(case_ids)):
                self._keys.popitem(last=False)

    def seal(self, case_id: str, place: str, column: str, text: str) -> str:
        """``text`` as the column stores it: sealed under the case's key (made if new)."""
        if not self.encrypts:
            return text
        key = self.data_key(case_id, create=True)
        assert key is not None
        return seal_text(key.algorithm, key.key, text, associated_data(case_id, place, column))

    def open(self, case_id: str, place: str, column: str, text: str) -> str:
        """The plain text of a stored value; E-KEY when it does not open (no key, a
        destroyed key, a changed or moved ciphertext, a value never sealed)."""
        if not self.encrypts:
            return text
        if not is_sealed(text):
            raise KeyUnavailable(f"the {column} of case {case_id} is not sealed (written "
                                 "before encryption, or replaced): run `jiekun db upgrade` "
                                 "with the master key", detail_zh="个人信息未加密或被替换")
        key = self.data_key(case_id, create=False)
        if key is None:
            raise KeyUnavailable(f"case {case_id} has no data key (destroyed by its purge, or "
                                 "a key store other than the one that sealed it)",
                                 detail_zh=f"案件 {case_id} 没有数据密钥（已销毁或密钥库不对）")
        return open_text(key.key, text, associated_data(case_id, place, column), key.algorithm)

    def open_optional(self, case_id: str, place: str, column: str,
                      text: str | None) -> str | None:
        return None if text is None else self.open(case_id, place, column, text)

    def index(self, applicant_id: str) -> str:
        """What the applicant index holds for an id number: its keyed hash."""
        if not self.encrypts:
            return applicant_id
        if self._index is None:
            self._index = self._provider().index_key(self.scope())
        return INDEX_PREFIX + keyed_hash(self._index, applicant_id)

    def salt(self, case_id: str) -> bytes | None:
        """The salt of the case's new personal digests (None: no encryption, digests stay
        unsalted); made with the case's data key when it has none yet."""
        if not self.encrypts:
            return None
        key = self.data_key(case_id, create=True)
        assert key is not None
        return derive(key.key, _SALT)

    def known_salt(self, case_id: str) -> bytes | None:
        """The case's salt when its key exists and is at hand (never makes one)."""
        if not self.encrypts or self.provider is None:
            return None
        try:
            key = self.data_key(case_id, create=False)
        except KeyUnavailable:
            return None
        return None if key is None else derive(key.key, _SALT)

    def destroy(self, case_id: str) -> None:
        """Forget the case's data key for good (after its rows were deleted)."""
        with self._lock:
            self._keys.pop(case_id, None)
        if self.encrypts:
            self._provider().destroy(self.scope(), case_id)
