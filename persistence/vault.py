"""The store's vault as the store's reads and writes use it (issue 19): seals every personal
value before it is written and opens it when read, so everything above ``persistence`` sees
plain text through the same ports as before.

What is sealed, each bound (associated data) to its case, its place and its column:

- ``personal_data.payload`` — place: the event's sequence number;
- ``case_personal.application`` and ``case_personal.applicant_id`` — place ``application``;
- ``cases.personal`` (the projection's personal figures, e.g. ``medical_declared``) — place:
  the case's version.

``case_personal.applicant_key`` holds HMAC-SHA256 of the applicant's id under the store's
index key (R-ONE-OPEN-CASE and a worker's own cases are found by it, never by the number;
``index_rotation`` re-keys it).
Each new personal digest in the chain is salted with a value derived from the case's data key
(``salt``): destroyed with the key, so a digest left after a purge confirms no guess.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import Connection, select

from jiekun.persistence.keys import DataKey, KeyProvider, NoEncryption
from jiekun.persistence.schema import case_keys
from jiekun.persistence.vault_crypto import (
    associated_data,
    derive,
    forget_cipher,
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
        self._scope_text: list[str] = []  # shared with the views (``on``)
        self.encrypts = not isinstance(provider, NoEncryption)
        self._keys: OrderedDict[str, DataKey] = OrderedDict()
        self._references: dict[str, str] = {}  # case → its batch key's reference (cached)
        self._lock = threading.Lock()
        # set on a transaction's view (``on``): its connection, the keys it made
        self._connection: Connection | None = None
        self._lookup: Callable[[str], str | None] | None = None
        self._made: dict[str, tuple[str, DataKey]] | None = None
        self._fresh: set[str] = set()  # cases this transaction found no row of
        self._indexed: dict[str, str] | None = None  # a transaction's index hashes

    @property
    def has_keys(self) -> bool:
        """Whether a key provider is configured (personal data can be read and written)."""
        return self.provider is not None

    def scope(self) -> str:
        """The store's name in the key provider (its origin, read once for the vault and
        every transaction's view of it)."""
        if not self._scope_text:
            self._scope_text.append(self._scope())
        return self._scope_text[0]

    def _provider(self) -> KeyProvider:
        if self.provider is None:
            raise KeyUnavailable(
                "no master key is configured for this store: set JIEKUN_MASTER_KEY_FILE, or "
                "pass keys= to Engine.open (chains and projections are readable without it)",
                detail_zh="未配置主密钥（JIEKUN_MASTER_KEY_FILE）")
        return self.provider

    def on(self, connection: Connection,
           references: Callable[[str], str | None] | None = None) -> Vault:
        """This vault as one transaction of the case store uses it: it finds a case's key
        reference (``case_keys``) on ``connection``, and keeps the keys it makes for new cases
        to itself until the store writes their references (``made``) and commits
        (``promote``). Caches are shared with the vault it comes from."""
        # a plain copy of the attributes: ``copy.copy`` (through ``__reduce_ex__``) cost
        # more than the rest of a transaction's vault work
        view = object.__new__(Vault)
        view.__dict__.update(self.__dict__)
        view._connection = connection
        view._lookup = references
        view._made = {}
        view._fresh = set()
        view._indexed = {}
        return view

    def fresh(self, case_id: str) -> None:
        """This transaction found no row of ``case_id``: a key it needs is a new one, with no
        reference nor key to look up first (two reads, one of them in the key store). A key
        an earlier attempt left by the case's id is then never used; it seals nothing."""
        if self._made is not None:
            self._fresh.add(case_id)

    def _cache(self, case_id: str, key: DataKey, reference: str | None = None) -> None:
        with self._lock:
            self._keys[case_id] = key
            self._keys.move_to_end(case_id)
            if reference is not None:
                self._references[case_id] = reference
            while len(self._keys) > _CACHED:
                gone, _ = self._keys.popitem(last=False)
                self._references.pop(gone, None)

    def _reference(self, case_id: str) -> str | None:
        """The reference of the case's batch key (``case_keys``), when it has one."""
        with self._lock:
            known = self._references.get(case_id)
        if known is not None or self._connection is None:
            return known
        if self._lookup is not None:  # the store's precompiled query (the hot path)
            return self._lookup(case_id)
        found = self._connection.execute(select(case_keys.c.key_ref).where(
            case_keys.c.case_id == case_id)).scalar()
        return None if found is None else str(found)

    def data_key(self, case_id: str, *, create: bool) -> DataKey | None:
        """The case's data key (cached): by the reference the case store records for it,
        else by its case id (a key made before batches). When ``create`` and there is none,
        a key of this process's batch (``key_pool``) inside a transaction, which the store
        then records; else one made alone."""
        with self._lock:
            key = self._keys.get(case_id)
            if key is not None:
                self._keys.move_to_end(case_id)
                return key
        if self._made and case_id in self._made:
            return self._made[case_id][1]
        provider = self._provider()
        if create and case_id in self._fresh:
            made = self._new_key(provider, case_id)
            if made is not None:
                return made
        reference = self._reference(case_id)
        by_reference = getattr(provider, "keys_by_reference", None)
        if reference is not None and by_reference is not None:
            kept: DataKey | None = by_reference(self.scope(), [reference]).get(reference)
            if kept is not None:
                self._cache(case_id, kept, reference)
            return kept  # None: destroyed by the purge
        key = provider.data_key(self.scope(), case_id, create=False)
        if key is None and create:
            key = self._new_key(provider, case_id)
            if key is not None:
                return key
        if key is None and create:
            key = provider.data_key(self.scope(), case_id, create=True)
        if key is not None:
            self._cache(case_id, key)
        return key

    def _new_key(self, provider: KeyProvider, case_id: str) -> DataKey | None:
        """A key of this process's batch for a new case, kept for the transaction's store to
        record; None outside a transaction, or when the provider has no batches."""
        new_key = getattr(provider, "new_key", None)
        if new_key is None or self._made is None:
            return None
        made: tuple[str, DataKey] = new_key(self.scope())
        self._made[case_id] = made
        return made[1]

    def made(self) -> dict[str, str]:
        """Case → reference of the keys this transaction made (the store records them)."""
        return {case_id: made[0] for case_id, made in (self._made or {}).items()}

    def forget_made(self, keep: set[str]) -> None:
        """Drop the keys made since ``keep`` was taken (their savepoint rolled back)."""
        if self._made:
            for case_id in set(self._made) - keep:
                del self._made[case_id]

    def promote(self) -> None:
        """The transaction committed: its new keys are known to every later one."""
        for case_id, (reference, key) in (self._made or {}).items():
            self._cache(case_id, key, reference)
        if self._made:
            self._made.clear()

    def preload(self, case_ids: list[str]) -> None:
        """Fetch the data keys of ``case_ids`` at once where the provider can, so that
        opening a chunk of cases does not ask once per case: the chunk's references read in
        one query, their keys in one key-store query, the others by case id in another. A
        key that does not unwrap is left for ``open`` to report, case by case."""
        by_case = getattr(self.provider, "data_keys", None)
        by_reference = getattr(self.provider, "keys_by_reference", None)
        if by_case is None or by_reference is None or not self.encrypts:
            return
        with self._lock:
            missing = [c for c in case_ids if c not in self._keys]
        references: dict[str, str] = {}
        if self._connection is not None and missing:
            for start in range(0, len(missing), 500):
                part = missing[start:start + 500]
                references.update((str(c), str(r)) for c, r in self._connection.execute(
                    select(case_keys.c.case_id, case_keys.c.key_ref)
                    .where(case_keys.c.case_id.in_(part))))
        try:
            found: dict[str, DataKey] = by_case(
                self.scope(), [c for c in missing if c not in references])
            named: dict[str, DataKey] = by_reference(self.scope(), list(references.values()))
        except KeyUnavailable:
            return
        for case_id, key in found.items():
            self._cache(case_id, key)
        for case_id, reference in references.items():
            if reference in named:
                self._cache(case_id, named[reference], reference)

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
        """What the applicant index holds for an id number: its keyed hash. The key is asked
        for at every lookup, never kept: another process may have re-keyed the index
        (``jiekun keys rotate --index``), and a hash under the old key would find nothing."""
        if not self.encrypts:
            return applicant_id
        # within one transaction (under the store's write lock, which a re-keying takes too)
        # the key cannot change: a submission's lookup and its row share one hash
        known = self._indexed.get(applicant_id) if self._indexed is not None else None
        if known is None:
            known = INDEX_PREFIX + keyed_hash(self._provider().index_key(self.scope()),
                                              applicant_id)
            if self._indexed is not None:
                self._indexed[applicant_id] = known
        return known

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

    def destroy(self, case_id: str, reference: str | None = None) -> None:
        """Forget the case's data key for good (after its rows were deleted): the one named
        by the case, and the batch key of ``reference`` (what ``case_keys`` recorded)."""
        with self._lock:
            cached = self._keys.pop(case_id, None)
            self._references.pop(case_id, None)
        if not self.encrypts:
            return
        provider = self._provider()
        for key in (cached, *self._stored_keys(provider, case_id, reference)):
            if key is not None:
                forget_cipher(key.key)  # (a cipher object holds its key's bytes)
        provider.destroy(self.scope(), case_id)
        by_reference = getattr(provider, "destroy_reference", None)
        if reference is not None and by_reference is not None:
            by_reference(self.scope(), reference)

    def _stored_keys(self, provider: KeyProvider, case_id: str,
                     reference: str | None) -> list[DataKey | None]:
        """The case's keys as the key store holds them (by case id, by ``reference``), read
        without this view's connection (a purge destroys after its commit); none that does
        not unwrap."""
        try:
            found = [provider.data_key(self.scope(), case_id, create=False)]
            by_reference = getattr(provider, "keys_by_reference", None)
            if reference is not None and by_reference is not None:
                found.append(by_reference(self.scope(), [reference]).get(reference))
        except KeyUnavailable:
            return []
        return found
