"""The vault's authenticated encryption (issue 19): AES-256-GCM by default, SM4-GCM where the
installed OpenSSL offers it, both from the ``cryptography`` package (no cipher code here).

A sealed value is text, so it fits the vault's text columns on both backends:
``jk1:<cipher>:<base64 of nonce ‖ ciphertext ‖ tag>``, ``<cipher>`` being ``aes`` or ``sm4``.
The associated data binds it to where it belongs — the case, the place in the case (an
event's sequence number, ``application``, a projection version) and the column — so a
ciphertext copied to another row, case or column does not open (``associated_data``).
Every failure to open is a ``KeyUnavailable`` (E-KEY): a changed byte, a moved ciphertext and
a wrong key cannot be told apart, and need not be.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from collections import OrderedDict

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jiekun.policies.errors import KeyUnavailable

AES = "aes-256-gcm"
SM4 = "sm4-gcm"
ALGORITHMS = (AES, SM4)
KEY_BYTES = {AES: 32, SM4: 16}
_SHORT = {AES: "aes", SM4: "sm4"}
_LONG = {v: k for k, v in _SHORT.items()}
PREFIX = "jk1:"
_NONCE = 12
_TAG = 16


def associated_data(case_id: str, place: str, column: str) -> bytes:
    """What a sealed value is bound to: version, case, place in the case, column (NUL
    separated; none of them holds a NUL)."""
    return "\x00".join(("jiekun-vault/1", case_id, place, column)).encode()


def check_algorithm(algorithm: str) -> str:
    """``algorithm`` if this installation can seal with it, else E-KEY saying why."""
    if algorithm not in ALGORITHMS:
        raise KeyUnavailable(f"unknown cipher {algorithm!r}: use one of {', '.join(ALGORITHMS)}",
                             detail_zh=f"不支持的加密算法 {algorithm}")
    if algorithm == SM4:
        try:
            _sm4_seal(bytes(16), os.urandom(_NONCE), b"", b"")
        except UnsupportedAlgorithm:
            raise KeyUnavailable("SM4-GCM is not offered by this installation's OpenSSL "
                                 "(install `cryptography` from PyPI, whose OpenSSL has it)",
                                 detail_zh="本机 OpenSSL 不支持 SM4-GCM") from None
    return algorithm


def _sm4_seal(key: bytes, nonce: bytes, plain: bytes, ad: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(ad)
    body = encryptor.update(plain) + encryptor.finalize()
    return body + encryptor.tag


def _sm4_open(key: bytes, nonce: bytes, sealed: bytes, ad: bytes) -> bytes:
    body, tag = sealed[:-_TAG], sealed[-_TAG:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(ad)
    return decryptor.update(body) + decryptor.finalize()


def seal_bytes(algorithm: str, key: bytes, plain: bytes, ad: bytes) -> bytes:
    """nonce ‖ ciphertext ‖ tag of ``plain`` under ``key``, bound to ``ad``; a fresh random
    nonce each time (96 bits: safe for far more values than a case ever has)."""
    nonce = os.urandom(_NONCE)
    if algorithm == AES:
        return nonce + _aes(key).encrypt(nonce, plain, ad)
    return nonce + _sm4_seal(key, nonce, plain, ad)


# A cipher object per key, not per value: an audit opens a chunk's values case by case, and a
# transition seals a case's values one after another. As many as the vault keeps data keys,
# or a page of firings (a key each) would miss every time; and a key destroyed by a purge is
# dropped here too (``forget_cipher``): the process keeps no copy of it.
_CIPHERS: OrderedDict[bytes, AESGCM] = OrderedDict()
_CIPHERS_KEPT = 4096
_CIPHERS_LOCK = threading.Lock()


def _aes(key: bytes) -> AESGCM:
    with _CIPHERS_LOCK:
        cipher = _CIPHERS.get(key)
        if cipher is not None:
            _CIPHERS.move_to_end(key)
            return cipher
    cipher = AESGCM(key)
    with _CIPHERS_LOCK:
        _CIPHERS[key] = cipher
        while len(_CIPHERS) > _CIPHERS_KEPT:
            _CIPHERS.popitem(last=False)
    return cipher


def forget_cipher(key: bytes) -> None:
    """Drop the cipher object kept for ``key`` (the key is being destroyed)."""
    with _CIPHERS_LOCK:
        _CIPHERS.pop(key, None)


def holds_cipher(key: bytes) -> bool:
    """Whether this process keeps a cipher object for ``key``."""
    with _CIPHERS_LOCK:
        return key in _CIPHERS


def open_bytes(algorithm: str, key: bytes, sealed: bytes, ad: bytes) -> bytes:
    """The plaintext of ``seal_bytes``'s output; E-KEY when it does not authenticate."""
    if len(sealed) < _NONCE + _TAG:
        raise KeyUnavailable("a sealed value is too short (it was cut or changed)",
                             detail_zh="密文长度不正确（已被截断或改动）")
    nonce, body = sealed[:_NONCE], sealed[_NONCE:]
    try:
        if algorithm == AES:
            return _aes(key).decrypt(nonce, body, ad)
        return _sm4_open(key, nonce, body, ad)
    except (InvalidTag, ValueError):
        raise KeyUnavailable("a sealed value does not open under its case's key: it was "
                             "changed, moved from another row or case, or the key is wrong",
                             detail_zh="密文无法用本案件的密钥解开（密文被改动、被移动，或密钥"
                                       "不对）") from None


def seal_text(algorithm: str, key: bytes, text: str, ad: bytes) -> str:
    """``text`` sealed, as the vault's columns hold it (``jk1:aes:…``)."""
    sealed = seal_bytes(algorithm, key, text.encode(), ad)
    return f"{PREFIX}{_SHORT[algorithm]}:{base64.b64encode(sealed).decode()}"


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)


def sealed_algorithm(text: str) -> str:
    """The cipher a sealed text names (E-KEY if it names none: a changed value)."""
    short = text[len(PREFIX):len(PREFIX) + 3]
    if not is_sealed(text) or short not in _LONG or text[len(PREFIX) + 3:len(PREFIX) + 4] != ":":
        raise KeyUnavailable("a vault value is not sealed by jiekun (changed, or written "
                             "before encryption: run `jiekun db upgrade` with the key)",
                             detail_zh="数据库中的个人信息未加密或格式被改动")
    return _LONG[short]


def open_text(key: bytes, text: str, ad: bytes, algorithm: str) -> str:
    """The text a ``seal_text`` value holds, sealed under ``key`` of ``algorithm``."""
    if sealed_algorithm(text) != algorithm:
        raise KeyUnavailable("a sealed value names another cipher than its case's key",
                             detail_zh="密文的算法与本案件密钥不符")
    try:
        sealed = base64.b64decode(text[len(PREFIX) + 4:], validate=True)
    except ValueError:
        raise KeyUnavailable("a sealed value is not valid base64 (it was changed)",
                             detail_zh="密文格式被改动") from None
    plain = open_bytes(algorithm, key, sealed, ad)
    try:
        return plain.decode()
    except UnicodeDecodeError:  # authenticated, so only a wrong algorithm could do this
        raise KeyUnavailable("a sealed value opened to bytes that are not text",
                             detail_zh="解密结果不是文本") from None


def derive(key: bytes, purpose: str) -> bytes:
    """A 32-byte key or value derived from ``key`` for one purpose (HMAC-SHA256)."""
    # hmac.digest: OpenSSL's one-shot HMAC, the same value as hmac.new(...).digest() at a
    # fraction of the cost (no HMAC object): https://docs.python.org/3/library/hmac.html
    return hmac.digest(key, purpose.encode(), "sha256")


def keyed_hash(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` under ``key``, as hex: what the applicant index holds."""
    return hmac.digest(key, text.encode(), "sha256").hex()
