"""Canonical JSON (RFC 8785, JCS) for audit entries and manifests.

Our documents hold strings, integers, booleans, null, lists and objects only. Floats are refused: their
canonical form needs ECMAScript number formatting, and no field of ours needs them. For this subset, JCS is
exactly: object keys sorted by UTF-16 code units, no insignificant whitespace, strings escaped minimally
(only ", \\ and control characters), UTF-8 output.
"""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalizable(TypeError):
    """The value holds a type that canonical JSON here does not support."""


def _string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _encode(value: Any, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonicalizable(f"integer {value} is outside the I-JSON safe range")
        parts.append(str(value))
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, dict):
        parts.append("{")
        for index, key in enumerate(sorted(value, key=_check_key)):
            if index:
                parts.append(",")
            parts.append(_string(key))
            parts.append(":")
            _encode(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    else:
        raise NotCanonicalizable(f"{type(value).__name__} values are not supported in canonical JSON")


def _check_key(key: object) -> bytes:
    if not isinstance(key, str):
        raise NotCanonicalizable("object keys must be strings")
    return _utf16_key(key)


def canonical_json(value: Any) -> bytes:
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode("utf-8")


def canonical_json_fast(value: Any) -> bytes:
    """Same bytes as canonical_json for documents already known to be in the subset, with ASCII keys.

    For such documents Python's C JSON encoder agrees with RFC 8785: with ASCII keys, code-point order is
    UTF-16 order, and with ensure_ascii=False it escapes exactly what JCS escapes. Verification uses this on
    rows that were validated when they were appended; a row altered to hold anything else then hashes
    differently and is reported as edited.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
