"""Checkpoint signatures: the C2SP signed-note format, checked against the reference vector of
Go's golang.org/x/mod/sumdb/note (note_test.go: the PeterNeumann key and note). Ed25519 is
deterministic (RFC 8032), so signing the same text with that key must give the published
signature byte for byte."""

from __future__ import annotations

import pytest

from jiekun.policies.errors import InvalidInput
from jiekun.workflow.signing import Signer, Verifier

VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = ("If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n")
SIGNATURE = ("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
             "qdngotpRZb6KE6RyyBwJnAM=")


def test_the_reference_key_signs_the_reference_note_byte_for_byte() -> None:
    signer = Signer.from_text(SKEY)
    assert signer.to_text() == SKEY
    assert signer.verifier().to_text() == VKEY
    assert signer.sign(TEXT) == SIGNATURE


def test_the_reference_signature_verifies_and_a_changed_text_does_not() -> None:
    verifier = Verifier.from_text(VKEY)
    assert verifier.signed(TEXT, (SIGNATURE,))
    assert not verifier.signed(TEXT.replace("cryptography", "cryptographY"), (SIGNATURE,))
    other = Signer.generate("PeterNeumann")  # same name, another key: its id differs
    assert not other.verifier().signed(TEXT, (SIGNATURE,))
    assert other.verifier().signed(TEXT, (SIGNATURE, other.sign(TEXT)))


@pytest.mark.parametrize("key", [
    VKEY.replace("c74f20a3", "c74f20a4"),  # the id does not match
    VKEY[:-4],                             # truncated key
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ApZc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
])
def test_a_mangled_verifier_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="verifier key"):
        Verifier.from_text(key)


def test_a_generated_key_round_trips() -> None:
    signer = Signer.generate("wuxi-audit")
    again = Signer.from_text(signer.to_text())
    assert again.verifier().to_text() == signer.verifier().to_text()
    assert Verifier.from_text(signer.verifier().to_text()).signed("x\n", (again.sign("x\n"),))
    with pytest.raises(InvalidInput, match="name"):
        Signer.generate("two words")
