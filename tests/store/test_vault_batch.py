"""Keys fetched a chunk at a time (``FileKeyProvider.data_keys``, ``Vault.preload``) as
``audit verify`` reads them: the same keys as one at a time, nothing made, and a key that
does not unwrap still refused case by case (E-KEY), never hidden by the batch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jiekun.persistence.keys import FileKeyProvider, create_master_key_file
from jiekun.persistence.vault import Vault
from jiekun.policies.errors import KeyUnavailable


@pytest.fixture
def provider(tmp_path: Path) -> FileKeyProvider:
    path = tmp_path / "master-key"
    create_master_key_file(path)
    return FileKeyProvider(path)


def test_a_batch_gives_the_keys_one_at_a_time_gives_and_makes_none(
        provider: FileKeyProvider) -> None:
    made = [f"C-{n:04d}" for n in range(1200)]  # more than one query's worth of parameters
    provider.prepare("store-a", made)
    asked = [*made, "C-missing"]
    batch = provider.data_keys("store-a", asked)
    assert set(batch) == set(made)
    assert all(batch[c] == provider.data_key("store-a", c, create=False) for c in made)
    assert provider.data_key("store-a", "C-missing", create=False) is None
    assert provider.data_keys("store-b", made) == {}  # keys are scoped by store


def test_preloaded_keys_open_what_they_sealed(provider: FileKeyProvider) -> None:
    writer = Vault(provider, lambda: "store-a")
    sealed = {c: writer.seal(c, "1", "personal_data.payload", f"secret of {c}")
              for c in ("C-1", "C-2")}
    reader = Vault(provider, lambda: "store-a")
    reader.preload(["C-1", "C-2", "C-none"])
    assert {c: reader.open(c, "1", "personal_data.payload", t) for c, t in sealed.items()} == {
        "C-1": "secret of C-1", "C-2": "secret of C-2"}
    with pytest.raises(KeyUnavailable, match="no data key"):
        reader.open("C-none", "1", "personal_data.payload", sealed["C-1"])


def test_a_changed_wrapped_key_is_refused_for_its_case_only(
        provider: FileKeyProvider) -> None:
    writer = Vault(provider, lambda: "store-a")
    sealed = {c: writer.seal(c, "1", "personal_data.payload", f"secret of {c}")
              for c in ("C-1", "C-2")}
    with sqlite3.connect(provider.keystore) as db:
        (wrapped,) = db.execute("SELECT wrapped FROM data_keys WHERE case_id = 'C-2'").fetchone()
        db.execute("UPDATE data_keys SET wrapped = ? WHERE case_id = 'C-2'",
                   (bytes(wrapped[:-1]) + bytes([wrapped[-1] ^ 1]),))
    reader = Vault(FileKeyProvider(provider.path), lambda: "store-a")
    reader.preload(["C-1", "C-2"])  # the batch fails as a whole: each case is asked alone
    assert reader.open("C-1", "1", "personal_data.payload", sealed["C-1"]) == "secret of C-1"
    with pytest.raises(KeyUnavailable, match="does not unwrap"):
        reader.open("C-2", "1", "personal_data.payload", sealed["C-2"])
