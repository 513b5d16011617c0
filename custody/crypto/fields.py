"""Field encryption with per-owner data keys (DESIGN invariant 2).

Each guest (the *owner*) has a 32-byte data key (DEK). The DEK is stored only wrapped: AES-256-GCM under the current
key-encryption key (KEK, see ``custody.crypto.keys``) with

    AAD = b"custody-dek/1|" + owner + b"|kek-v" + str(kek_version)

so a wrapped key copied to another owner row, or presented with another version, does not unwrap. The wrapped form is
``0x01 | 12-byte nonce | ciphertext+tag`` (61 bytes); store the KEK version beside it. Destroying the wrapped DEK
erases every field encrypted under it (crypto-shredding). A backup taken before the erasure still holds the wrapped
DEK, and opens for as long as its KEK version is kept: retiring old KEK versions after rotation (once backups older
than the rotation have expired) is what finally shreds those copies.

Every personal field is encrypted under its owner's DEK, AES-256-GCM with

    AAD = b"custody-field/1|" + table + b"|" + column + b"|" + pk      (UTF-8)

so a ciphertext moved to another table, column or row fails to decrypt instead of showing the wrong person's data.

Blob format 1: ``0x01 | 12-byte random nonce | ciphertext+16-byte tag``. The plaintext is the UTF-8 text padded to a
multiple of 16 bytes (PKCS#7: 1 to 16 bytes, each holding the pad length), so a stored value reveals its length only
in steps of 16 bytes: "Li" and "Maximilian" look the same, and an empty string is encrypted like any other (45 bytes).
Store None (NULL) for "absent" where the model needs that distinction. Random nonces are safe here: a DEK encrypts
one guest's fields, far below the 2**32 messages per key where 96-bit random nonces become a concern.

Any failure to decrypt or unwrap - wrong key, moved blob, tampering, truncation, unknown format byte, unknown KEK
version - raises ``DecryptionFailed``; the message names the place (table, column, pk or owner), never the data.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custody.crypto import keys

DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
PAD_BLOCK = 16
FIELD_FORMAT = 0x01
WRAP_FORMAT = 0x01
_HEADER_BYTES = 1 + NONCE_BYTES
_MIN_FIELD_BLOB = _HEADER_BYTES + PAD_BLOCK + TAG_BYTES
_WRAPPED_BYTES = _HEADER_BYTES + DATA_KEY_BYTES + TAG_BYTES

Blob = bytes | bytearray | memoryview  # PostgreSQL drivers hand BinaryField values back as memoryview


class DecryptionFailed(Exception):
    """A ciphertext or wrapped key could not be authenticated and decrypted."""


# --- data keys ------------------------------------------------------------------------------------------------


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def wrap_data_key(dek: bytes, *, owner: str) -> tuple[bytes, int]:
    """Encrypt a DEK under the current KEK; returns (wrapped, kek_version). Store both."""
    _check_data_key(dek)
    version = keys.current_version()
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(keys.kek(version)).encrypt(nonce, bytes(dek), _wrap_aad(owner, version))
    return bytes([WRAP_FORMAT]) + nonce + sealed, version


def unwrap_data_key(wrapped: Blob, *, owner: str, kek_version: int) -> bytes:
    data = bytes(wrapped)
    where = f"data key of {owner} (KEK version {kek_version})"
    if len(data) != _WRAPPED_BYTES or data[0] != WRAP_FORMAT:
        raise DecryptionFailed(f"{where}: not a format-{WRAP_FORMAT} wrapped key of {_WRAPPED_BYTES} bytes.")
    try:
        kek = keys.kek(kek_version)
    except keys.UnknownKeyVersion as exc:
        raise DecryptionFailed(f"{where}: {exc}") from None
    try:
        return AESGCM(kek).decrypt(data[1:_HEADER_BYTES], data[_HEADER_BYTES:], _wrap_aad(owner, kek_version))
    except InvalidTag:
        raise DecryptionFailed(
            f"{where} does not authenticate: another owner's key, a replaced key-encryption key, or tampering."
        ) from None


def rewrap_data_key(wrapped: Blob, *, owner: str, kek_version: int) -> tuple[bytes, int]:
    """Move a wrapped DEK to the current KEK version; returns (wrapped, kek_version) to store.

    Idempotent, for a resumable rotation job: a key already under the current version is checked and returned as is.
    """
    dek = unwrap_data_key(wrapped, owner=owner, kek_version=kek_version)
    if kek_version == keys.current_version():
        return bytes(wrapped), kek_version
    return wrap_data_key(dek, owner=owner)


def _wrap_aad(owner: str, version: int) -> bytes:
    _check_aad_part("owner", owner)
    return b"custody-dek/1|" + owner.encode("utf-8") + b"|kek-v" + str(version).encode("ascii")


def _check_data_key(dek: bytes) -> None:
    if not isinstance(dek, bytes | bytearray | memoryview) or len(dek) != DATA_KEY_BYTES:
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes.")


def _check_aad_part(name: str, value: str) -> None:
    # '|' separates the AAD parts; forbidding it in all but the last one keeps every AAD unambiguous.
    if not isinstance(value, str) or not value or "|" in value:
        raise ValueError(f"{name} must be a non-empty string without '|': {value!r}")


# --- fields ---------------------------------------------------------------------------------------------------


def encrypt_field(dek: bytes, plaintext: str, *, table: str, column: str, pk: str) -> bytes:
    """Encrypt one field value; raises ValueError for text that is not valid Unicode (lone surrogates)."""
    _check_data_key(dek)
    if not isinstance(plaintext, str):
        raise TypeError(f"encrypt_field encrypts text, not {type(plaintext).__name__}.")
    encoded = plaintext.encode("utf-8")
    pad = PAD_BLOCK - len(encoded) % PAD_BLOCK
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(bytes(dek)).encrypt(nonce, encoded + bytes([pad]) * pad, _field_aad(table, column, pk))
    return bytes([FIELD_FORMAT]) + nonce + sealed


def decrypt_field(dek: bytes, blob: Blob, *, table: str, column: str, pk: str) -> str:
    _check_data_key(dek)
    data = bytes(blob)
    where = f"{table}.{column} of pk {pk}"
    if not data:
        raise DecryptionFailed(f"{where}: empty ciphertext.")
    if data[0] != FIELD_FORMAT:
        raise DecryptionFailed(f"{where}: unknown field format byte 0x{data[0]:02x}.")
    if len(data) < _MIN_FIELD_BLOB or (len(data) - _HEADER_BYTES - TAG_BYTES) % PAD_BLOCK:
        raise DecryptionFailed(f"{where}: ciphertext of {len(data)} bytes is truncated or malformed.")
    try:
        padded = AESGCM(bytes(dek)).decrypt(data[1:_HEADER_BYTES], data[_HEADER_BYTES:], _field_aad(table, column, pk))
    except InvalidTag:
        raise DecryptionFailed(
            f"{where} does not authenticate: another guest's data key, a value moved from another row or column, "
            "or tampering."
        ) from None
    pad = padded[-1]
    if not 1 <= pad <= PAD_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise DecryptionFailed(f"{where}: bad padding.")
    try:
        return padded[:-pad].decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionFailed(f"{where}: plaintext is not UTF-8.") from None


def _field_aad(table: str, column: str, pk: str) -> bytes:
    _check_aad_part("table", table)
    _check_aad_part("column", column)
    if not isinstance(pk, str) or not pk:
        raise ValueError(f"pk must be a non-empty string: {pk!r}")
    return b"custody-field/1|" + table.encode("utf-8") + b"|" + column.encode("utf-8") + b"|" + pk.encode("utf-8")
