"""Keyed blind indexes: exact search over encrypted fields without storing anything readable.

``blind_index(kind, value)`` is HMAC-SHA256 over the normalized value, under a per-kind key derived with HKDF-SHA256
from the blind-index key (``custody.crypto.keys.index_key()``, kept apart from the key-encryption keys) with
``info = b"custody-blind-index/1|" + kind``, truncated to ``INDEX_BYTES`` bytes. The same surname stored as a name and
as a booking reference therefore gets unrelated indexes, and a database copied without the key file reveals nothing:
without the key an index cannot be recomputed from a guessed name, phone or ID number.

Why 4 bytes (32 bits)
    An index is a filter, not an identifier: a lookup fetches the rows whose index matches, decrypts them and keeps
    those whose normalized value is equal (``equivalent()``), so a collision costs one decryption, never a wrong answer.
    With 32 bits, up to a few million values per kind mostly get distinct indexes: a lookup returns about n / 2**32
    false positives, ~0.0002 for 1M guests, so an exact lookup decrypts the right rows and almost never another one.
    The stored value stays short (4 bytes per index, fast to compare and to keep in a B-tree).
    What it leaks: like any deterministic index, two equal indexes say the two values are likely equal (and so how
    often a value repeats), to whoever reads the database - but only that, and only within one kind.
    The trade-off: shorter indexes (16-20 bits) would put many different values in each bucket and so hide frequency
    better, at the cost of tens to thousands of false positives per lookup on a 1M-guest database, each decrypted and
    discarded; longer ones (8+ bytes) would buy nothing but space, since 32 bits already make collisions rare.

Normalization (``normalize(kind, value)``) makes equivalent spellings meet:

* ``name``: NFKC (folds full-width letters), casefold, accents stripped (NFD, combining marks dropped, NFC again;
  letters with a built-in stroke such as "ł", "ø", "đ", the dotless i and the ligatures "æ", "œ" become plain
  letters), invisible format characters (zero-width space, soft hyphen) dropped, runs of whitespace collapsed to one
  space and the ends stripped. Chinese characters are kept as they are. "García  López" and "GARCIA LOPEZ" match.
* ``id_number``, ``booking_reference``: NFKC, uppercase, every character that is not a letter or digit dropped
  ("X-1234.567/Z" -> "X1234567Z").
* ``phone``: NFKC, digits only (any script's decimal digits read as 0-9); a leading "00" international prefix is
  dropped, as "+" is, so "+34 600-123-456" and "0034600123456" are both "34600123456".
* ``email``: NFKC, stripped, casefolded (and NFKC again, so normalizing twice changes nothing).

A value that normalizes to nothing (or an unknown kind) raises ValueError. Changing any rule or the index key means
recomputing every stored index; bump the ``/1`` in the HKDF info when a rule changes.

Search fingerprints (``search_fingerprint(kind, value)``) go into the audit entry of a lookup, so an auditor can see
the same value searched for again and again (guessing) without the entry holding the value. They are HMAC-SHA256
over the same normalized value under another key derived from the blind-index key (``info =
b"custody-search-fingerprint/1|" + kind``), so a fingerprint cannot be matched against the stored indexes, and are
kept to 16 bytes (32 hex digits): long enough that two different searched values practically never share one. Like
the indexes, they cannot be recomputed from a guess without the key file.
"""

from __future__ import annotations

import hmac
import unicodedata
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.crypto import keys

INDEX_BYTES = 4
FINGERPRINT_BYTES = 16
KINDS = frozenset({"name", "id_number", "phone", "email", "booking_reference"})
# Latin letters that carry their "accent" inside (NFD does not split them), as guests type them without it.
_LATIN_BASE_LETTERS = str.maketrans(
    {"ı": "i", "ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe", "þ": "th"}
)


def normalize(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown blind index kind {kind!r}; use one of {', '.join(sorted(KINDS))}.")
    if not isinstance(value, str):
        raise TypeError(f"a {kind} to index must be text, not {type(value).__name__}.")
    text = unicodedata.normalize("NFKC", value)
    if kind == "name":
        normalized = _normalize_name(text)
    elif kind in {"id_number", "booking_reference"}:
        normalized = "".join(char for char in text.upper() if char.isalnum())
    elif kind == "phone":
        normalized = _normalize_phone(text)
    else:
        # NFKC again: casefolding can leave a sequence that NFKC would compose ("ß" + accent -> "ss" + accent).
        normalized = unicodedata.normalize("NFKC", text.strip().casefold())
    if not normalized:
        raise ValueError(f"the {kind.replace('_', ' ')} is empty once normalized.")
    return normalized


def blind_index(kind: str, value: str) -> bytes:
    message = normalize(kind, value).encode("utf-8", "surrogatepass")
    return hmac.digest(_kind_key(keys.index_key(), kind), message, "sha256")[:INDEX_BYTES]


def search_fingerprint(kind: str, value: str) -> str:
    """What an audit entry records of a searched value: a keyed hash, equal for equivalent spellings (hex)."""
    message = normalize(kind, value).encode("utf-8", "surrogatepass")
    key = _derived_key(keys.index_key(), b"custody-search-fingerprint/1|", kind)
    return hmac.digest(key, message, "sha256")[:FINGERPRINT_BYTES].hex()


def equivalent(kind: str, first: str, second: str) -> bool:
    """Whether two values are the same for this kind: filters the false positives of an index lookup."""
    return normalize(kind, first) == normalize(kind, second)


def _kind_key(index_key: bytes, kind: str) -> bytes:
    return _derived_key(index_key, b"custody-blind-index/1|", kind)


@lru_cache(maxsize=64)
def _derived_key(index_key: bytes, label: bytes, kind: str) -> bytes:
    info = label + kind.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(index_key)


def _normalize_name(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.casefold())
    kept = "".join(char for char in folded if not unicodedata.combining(char) and unicodedata.category(char) != "Cf")
    return " ".join(unicodedata.normalize("NFC", kept.translate(_LATIN_BASE_LETTERS)).split())


def _normalize_phone(text: str) -> str:
    digits = "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())
    return digits.removeprefix("00")
