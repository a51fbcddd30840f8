"""The vault's keyed hash and key derivation are HMAC-SHA256 (``persistence/vault_crypto.py``),
held to the published test vectors of RFC 4231 (section 4.3, test case 2), so a change in
how they are computed cannot change a stored index hash or a salt unnoticed; and a value
sealed under one key opens under it, with its associated data, and under nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiekun.persistence.keys import FileKeyProvider, create_master_key_file
from jiekun.persistence.vault import Vault
from jiekun.persistence.vault_crypto import (
    AES,
    associated_data,
    derive,
    holds_cipher,
    keyed_hash,
    open_text,
    seal_text,
)
from jiekun.policies.errors import KeyUnavailable

RFC4231_KEY = b"Jefe"
RFC4231_DATA = "what do ya want for nothing?"
RFC4231_HMAC_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_keyed_hash_is_hmac_sha256_as_rfc_4231_gives_it() -> None:
    assert keyed_hash(RFC4231_KEY, RFC4231_DATA) == RFC4231_HMAC_SHA256


def test_derive_is_the_same_hmac_as_bytes() -> None:
    assert derive(RFC4231_KEY, RFC4231_DATA) == bytes.fromhex(RFC4231_HMAC_SHA256)


def test_sealed_text_opens_under_its_key_and_place_only() -> None:
    key, other = bytes(range(32)), bytes(range(1, 33))
    ad = associated_data("C-1", "application", "case_personal.application")
    sealed = seal_text(AES, key, "无锡 320211197903155182", ad)
    assert seal_text(AES, key, "无锡 320211197903155182", ad) != sealed  # a fresh nonce
    assert open_text(key, sealed, ad, AES) == "无锡 320211197903155182"
    with pytest.raises(KeyUnavailable):
        open_text(other, sealed, ad, AES)
    with pytest.raises(KeyUnavailable):
        open_text(key, sealed, associated_data("C-2", "application",
                                               "case_personal.application"), AES)


def test_destroying_a_case_key_drops_the_cipher_kept_for_it(tmp_path: Path) -> None:
    """Crypto-shredding leaves no copy of the key in the process: the cipher object made for
    it goes too, whether the vault that destroys it had the key at hand or not."""
    path = tmp_path / "master-key"
    create_master_key_file(path)
    provider = FileKeyProvider(path)
    sealing = Vault(provider, lambda: "scope-1")
    keys = {}
    for case_id in ("C-1", "C-2"):
        sealing.seal(case_id, "1", "personal_data.payload", "320211197903155182")
        key = provider.data_key("scope-1", case_id, create=False)
        assert key is not None and holds_cipher(key.key)
        keys[case_id] = key.key
    sealing.destroy("C-1")  # the key cached in this vault
    Vault(provider, lambda: "scope-1").destroy("C-2")  # another vault: read from the store
    for case_id, key_bytes in keys.items():
        assert not holds_cipher(key_bytes)
        assert provider.data_key("scope-1", case_id, create=False) is None
