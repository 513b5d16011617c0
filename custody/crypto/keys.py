"""Key material for field encryption and blind indexes.

Two keys, kept apart so that one leaking does not give away the other:

* the **key-encryption key (KEK) ring**, which wraps the per-guest data keys. It lives in ``CUSTODY_KEK_FILE`` or, by
  default, in ``$CUSTODY_HOME/keys/kek.json`` (generated on first use, mode 0600, folder 0700)::

      {"format": "custody-kek/1", "current": 2, "keys": {"1": "<base64 of 32 bytes>", "2": "..."}}

  Every wrapped data key records the KEK version it was wrapped under, so old versions stay in the ring until the
  re-encryption job has moved every data key to the current one. ``add_version()`` (``custody keys rotate``) adds a
  version and makes it current.
* the **blind-index key**, 32 random bytes in base64, in ``CUSTODY_INDEX_KEY_FILE`` or ``$CUSTODY_HOME/keys/index.key``.
  It is not versioned: changing it means recomputing every blind index.

A key file that group or others may read is refused with ImproperlyConfigured: a key anyone on the host can read is no
key. A file named by a setting must exist; only the default locations are generated.

Loaded keys are cached per path and revalidated with one ``stat()`` per use: a rotation done by another process (the
file is replaced atomically, so its inode changes) or a permission change is seen at once, without rereading the file
each time. ``reset_key_caches()`` empties the caches (for tests).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEK_FORMAT = "custody-kek/1"
KEY_BYTES = 32

_T = TypeVar("_T")
_FileSignature = tuple[int, int, int, int, int]
_cache: dict[Path, tuple[_FileSignature, Any]] = {}
_cache_lock = threading.Lock()
_rotate_lock = threading.Lock()


class UnknownKeyVersion(LookupError):
    """The KEK ring holds no key of the requested version."""


@dataclass(frozen=True)
class KeyRing:
    path: Path
    current: int
    keys: dict[int, bytes]


# --- locations ------------------------------------------------------------------------------------------------


def kek_path() -> Path:
    return _location(getattr(settings, "CUSTODY_KEK_FILE", None), settings.CUSTODY_HOME, "kek.json")


def index_key_path() -> Path:
    return _location(getattr(settings, "CUSTODY_INDEX_KEY_FILE", None), settings.CUSTODY_HOME, "index.key")


@lru_cache(maxsize=32)
def _location(configured: str | os.PathLike[str] | None, home: str | os.PathLike[str], default_name: str) -> Path:
    # Cached: building Paths costs more than the AES operation these keys are fetched for.
    return Path(configured).expanduser() if configured else Path(home) / "keys" / default_name


# --- public API -----------------------------------------------------------------------------------------------


def keyring() -> KeyRing:
    return _cached(kek_path(), "CUSTODY_KEK_FILE", _new_keyring_file, _parse_keyring)


def current_version() -> int:
    return keyring().current


def versions() -> list[int]:
    return sorted(keyring().keys)


def kek(version: int) -> bytes:
    ring = keyring()
    try:
        return ring.keys[version]
    except KeyError:
        raise UnknownKeyVersion(f"{ring.path} holds no key-encryption key of version {version}.") from None


def add_version() -> int:
    """Generate a new KEK, make it current and rewrite the ring atomically (mode 0600). Returns the new version.

    Serialised by an exclusive lock next to the file, so two rotations at once cannot lose a key.
    """
    path = kek_path()
    keyring()  # creates the default ring when absent; refuses a bad or too-open file before anything is written
    with _rotate_lock, _exclusive_lock(path):
        ring = _parse_keyring(path, path.read_bytes())
        version = max(ring.keys) + 1
        keys = {**ring.keys, version: secrets.token_bytes(KEY_BYTES)}
        try:
            _replace_atomically(path, _keyring_bytes(version, keys))
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot rewrite {path}: {exc.strerror}.") from None
    _forget(path)
    return version


def index_key() -> bytes:
    key: bytes = _cached(index_key_path(), "CUSTODY_INDEX_KEY_FILE", _new_index_key_file, _parse_index_key)
    return key


def reset_key_caches() -> None:
    with _cache_lock:
        _cache.clear()


# --- file formats ---------------------------------------------------------------------------------------------


def _keyring_bytes(current: int, keys: dict[int, bytes]) -> bytes:
    document = {
        "format": KEK_FORMAT,
        "current": current,
        "keys": {str(version): base64.b64encode(keys[version]).decode("ascii") for version in sorted(keys)},
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _new_keyring_file() -> bytes:
    return _keyring_bytes(1, {1: secrets.token_bytes(KEY_BYTES)})


def _parse_keyring(path: Path, data: bytes) -> KeyRing:
    def bad(reason: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{path} is not a valid {KEK_FORMAT} key ring: {reason}.")

    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("not JSON") from None
    if not isinstance(document, dict) or document.get("format") != KEK_FORMAT:
        raise bad(f'"format" must be "{KEK_FORMAT}"')
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise bad('"keys" must map version numbers to base64 keys')
    keys: dict[int, bytes] = {}
    for name, encoded in raw_keys.items():
        if not (name.isascii() and name.isdigit() and int(name) > 0 and str(int(name)) == name):
            raise bad(f"key version {name!r} is not a positive whole number")
        key = _decode_key(encoded)
        if key is None:
            raise bad(f"key {name} is not base64 of {KEY_BYTES} bytes")
        keys[int(name)] = key
    current = document.get("current")
    if type(current) is not int or current not in keys:
        raise bad('"current" must be the number of one of its keys')
    return KeyRing(path=path, current=current, keys=keys)


def _new_index_key_file() -> bytes:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n"


def _parse_index_key(path: Path, data: bytes) -> bytes:
    key = _decode_key(data.strip())
    if key is None:
        raise ImproperlyConfigured(f"{path} must hold {KEY_BYTES} random bytes in base64 (the blind-index key).")
    return key


def _decode_key(encoded: object) -> bytes | None:
    """The key that encoded holds in base64, or None when it is not exactly KEY_BYTES bytes in base64."""
    if not isinstance(encoded, str | bytes):
        return None
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


# --- loading, caching, writing --------------------------------------------------------------------------------


def _cached(path: Path, setting: str, generate: Callable[[], bytes], parse: Callable[[Path, bytes], _T]) -> _T:
    signature = _signature(path)
    if signature is None:
        if getattr(settings, setting, None):
            raise ImproperlyConfigured(f"{setting}={path}: no such file.")
        _create_exclusively(path, generate())
        signature = _signature(path)
        assert signature is not None
    hit = _cache.get(path)
    if hit is not None and hit[0] == signature:
        value: _T = hit[1]
        return value
    _refuse_open_permissions(path, signature[4])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} cannot be read: {exc.strerror}.") from None
    value = parse(path, data)
    with _cache_lock:
        _cache[path] = (signature, value)
    return value


def _forget(path: Path) -> None:
    with _cache_lock:
        _cache.pop(path, None)


def _signature(path: Path) -> _FileSignature | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImproperlyConfigured(f"{path} is not a regular file.")
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)


def _refuse_open_permissions(path: Path, st_mode: int) -> None:
    mode = stat.S_IMODE(st_mode)
    if mode & 0o077:
        raise ImproperlyConfigured(f"{path} is readable by other users (mode {mode:04o}); run: chmod 600 {path}")


def _create_exclusively(path: Path, data: bytes) -> None:
    """Write a new key file, complete and 0600, or leave the one another process created first."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # link() publishes a fully written file and fails if one appeared meanwhile, which we then use.
        with _temporary_file(path, data) as temporary, contextlib.suppress(FileExistsError):
            path.hardlink_to(temporary)
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot create {path}: {exc.strerror}.") from None


def _replace_atomically(path: Path, data: bytes) -> None:
    with _temporary_file(path, data) as temporary:
        temporary.replace(path)
    _fsync_directory(path.parent)


@contextlib.contextmanager
def _temporary_file(path: Path, data: bytes) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot lock {lock_path}: {exc.strerror}.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
