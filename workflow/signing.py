"""Ed25519 keys and signatures of checkpoints, in the C2SP signed-note format
(c2sp.org/signed-note, the format of Go's ``golang.org/x/mod/sumdb/note``), so a checkpoint
jiekun signs can be checked by tools that know that format, and the other way round.

- a key's id is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key), 0x01 being
  the Ed25519 algorithm byte;
- the verifier key (public, handed to auditors) is ``<name>+<id as 8 hex>+<base64(0x01 ||
  public key)>``; the signer key (secret) is ``PRIVATE+KEY+<name>+<id>+<base64(0x01 ||
  32-byte seed)>``;
- a signature line is ``— <name> <base64(id || 64-byte signature)>``; what is signed is the
  note's text, every line with its newline (``Checkpoint.note_text``).

The cryptography is the ``cryptography`` package's; nothing here computes a signature itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jiekun.policies.errors import FieldProblem, InvalidInput

_ED25519 = b"\x01"
_NAME = re.compile(r"[^\s+]+")
_SIGNATURE_LINE = re.compile(r"— ([^\s+]+) (\S+)")


def _problem(where: str, message: str, message_zh: str) -> InvalidInput:
    return InvalidInput("key", [FieldProblem(where, message, message_zh)])


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _read(text: str, parts: int, what: str) -> tuple[str, bytes, bytes]:
    """(name, id, key bytes) of ``name+id+base64`` after any prefix was cut."""
    fields = text.strip().split("+", parts - 1)  # base64 may hold '+' itself
    if len(fields) != parts or not _NAME.fullmatch(fields[0]):
        raise _problem(what, "expected <name>+<8 hex digits>+<base64 key>",
                       "格式应为 <名称>+<8 位十六进制>+<base64 密钥>")
    name, key_id, encoded = fields
    try:
        key = base64.b64decode(encoded, validate=True)
        wanted = bytes.fromhex(key_id) if len(key_id) == 8 else b""
    except (binascii.Error, ValueError):
        key, wanted = b"", b""
    if len(key) != 33 or key[:1] != _ED25519 or len(wanted) != 4:
        raise _problem(what, "not an Ed25519 key of this format", "不是此格式的 Ed25519 密钥")
    return name, wanted, key[1:]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signature lines."""

    name: str
    key_id: bytes
    public: Ed25519PublicKey

    @classmethod
    def from_text(cls, text: str) -> Verifier:
        name, wanted, raw = _read(text, 3, "verifier key")
        if _key_id(name, raw) != wanted:
            raise _problem("verifier key", "its id does not match its name and key",
                           "密钥编号与名称和密钥不符")
        return cls(name, wanted, Ed25519PublicKey.from_public_bytes(raw))

    def to_text(self) -> str:
        encoded = base64.b64encode(_ED25519 + _public_bytes(self.public)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def signed(self, text: str, signature_lines: tuple[str, ...]) -> bool:
        """Whether one of ``signature_lines`` is this key's valid signature of ``text``.
        Lines of other keys are passed over (a note may carry several witnesses')."""
        for line in signature_lines:
            match = _SIGNATURE_LINE.fullmatch(line)
            if match is None or match.group(1) != self.name:
                continue
            try:
                blob = base64.b64decode(match.group(2), validate=True)
            except binascii.Error:
                continue
            if len(blob) != 68 or blob[:4] != self.key_id:
                continue
            try:
                self.public.verify(blob[4:], text.encode("utf-8"))
            except InvalidSignature:
                continue
            return True
        return False


@dataclass(frozen=True)
class Signer:
    """A secret key that signs notes."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _NAME.fullmatch(name):
            raise _problem("name", "a key name has no spaces and no '+'",
                           "密钥名称不得含空格或“+”")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> Signer:
        body = text.strip()
        if not body.startswith("PRIVATE+KEY+"):
            raise _problem("signer key", "expected PRIVATE+KEY+<name>+<id>+<base64 key>",
                           "格式应为 PRIVATE+KEY+<名称>+<编号>+<base64 密钥>")
        name, wanted, seed = _read(body.removeprefix("PRIVATE+KEY+"), 3, "signer key")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        if _key_id(name, _public_bytes(private.public_key())) != wanted:
            raise _problem("signer key", "its id does not match its name and key",
                           "密钥编号与名称和密钥不符")
        return cls(name, private)

    def to_text(self) -> str:
        seed = self.private.private_bytes_raw()
        key_id = _key_id(self.name, _public_bytes(self.private.public_key()))
        encoded = base64.b64encode(_ED25519 + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{key_id.hex()}+{encoded}"

    def verifier(self) -> Verifier:
        public = self.private.public_key()
        return Verifier(self.name, _key_id(self.name, _public_bytes(public)), public)

    def sign(self, text: str) -> str:
        """The signature line of ``text`` (without its newline)."""
        signature = self.private.sign(text.encode("utf-8"))
        blob = self.verifier().key_id + signature
        return f"— {self.name} {base64.b64encode(blob).decode()}"
