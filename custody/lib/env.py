"""Strict parsers for environment settings.

Every parser raises ``ConfigError`` with a message that names the variable and says what a good value
looks like, so a bad deployment stops at start-up instead of half-working. No Django imports here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_HOSTNAME = re.compile(r"^(\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
MIN_SECRET_KEY_LENGTH = 50


class ConfigError(ValueError):
    """A setting from the environment is missing or malformed."""


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def parse_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is out of range; it must be between {minimum} and {maximum}.")
    return value


def parse_home(env: Mapping[str, str], name: str = "CUSTODY_HOME", default: str = "var") -> Path:
    raw = env.get(name, "").strip() or default
    path = Path(raw).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}={raw!r} exists but is not a directory.")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{name}={raw!r} cannot be created: {exc.strerror}.") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{name}={raw!r} is not writable by this user.")
    return path


def parse_hosts(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    hosts: list[str] = []
    for item in raw.split(","):
        host = item.strip().lower()
        if not host:
            raise ConfigError(f"{name}={raw!r} has an empty entry; separate host names with single commas.")
        if host == "*":
            raise ConfigError(f"{name} may not contain '*'; list the host names this server answers to.")
        if not _is_host(host):
            raise ConfigError(f"{name} entry {item.strip()!r} is not a host name or IP address.")
        hosts.append(host)
    return hosts


def _is_host(host: str) -> bool:
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))


def parse_database_url(env: Mapping[str, str], name: str, home: Path) -> dict[str, Any]:
    """Turn DATABASE_URL into a Django DATABASES entry; default is SQLite under CUSTODY_HOME."""
    raw = env.get(name, "").strip()
    if not raw:
        return sqlite_database(home / "custody.sqlite3")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path, as dj-database-url reads them
        path_text = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path_text:
            raise ConfigError(f"{name}={raw!r}: write SQLite URLs as sqlite:///relative.db or sqlite:////abs.db.")
        return sqlite_database(Path(path_text))
    if scheme in {"postgres", "postgresql", "pgsql"}:
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise ConfigError(f"{name}={_redact(raw)!r} names no database; add /DBNAME after the host.")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{name}={_redact(raw)!r} has a port that is not a number.") from None
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key not in {"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "connect_timeout"}:
                raise ConfigError(f"{name} option {key!r} is not supported.")
            options[key] = value
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": dbname,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ConfigError(
        f"{name}={_redact(raw)!r} has unsupported scheme {parts.scheme!r}; use sqlite:/// or postgresql://."
    )


def sqlite_database(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # WAL lets the web server and workers read while one writes; IMMEDIATE avoids
            # upgrade deadlocks when two writers start a transaction at once.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # Tests use a file too (not the in-memory default): its locking matches production, where writers
        # wait for each other instead of failing at once.
        "TEST": {"NAME": str(path.with_name(f"test-{path.stem}.sqlite3"))},
    }


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def read_secret(env: Mapping[str, str], name: str) -> str | None:
    """Read NAME or NAME_FILE (never both); None when neither is set."""
    direct = env.get(name, "")
    file_name = f"{name}_FILE"
    file_path = env.get(file_name, "")
    if direct and file_path:
        raise ConfigError(f"Set either {name} or {file_name}, not both.")
    if file_path:
        path = Path(file_path).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"{file_name}={file_path!r}: no such file.") from None
        except OSError as exc:
            raise ConfigError(f"{file_name}={file_path!r} cannot be read: {exc.strerror}.") from None
        if not value:
            raise ConfigError(f"{file_name}={file_path!r} is empty.")
        return value
    return direct.strip() or None


def load_or_create_secret_file(path: Path, *, nbytes: int = 48) -> str:
    """Return the secret stored at path, creating it with mode 0600 when absent.

    An existing file that group or others may read is refused: a key anyone on the host can read is no key.
    """
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by other users (mode {mode:04o}); run: chmod 600 {path}")
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigError(f"{path} is empty; delete it to have a new key generated.")
        return value
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def check_secret_key(name: str, value: str) -> str:
    if len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < 5:
        raise ConfigError(f"{name} is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters.")
    return value


def parse_existing_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}={raw!r}: no such file.")
    return path


def parse_writable_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_file():
        raise ConfigError(f"{name}={raw!r} exists but is not a file.")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise ConfigError(f"{name}={raw!r}: its folder does not exist or is not writable.")
    return path


def parse_public_url(env: Mapping[str, str], name: str, default: str) -> str:
    """The address people reach Custody at, for links in e-mails: ``http(s)://host[:port]`` with nothing after the
    host but an optional "/" (no path, query, fragment or user info). Returned without the trailing slash."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a URL; give e.g. https://custody.hotel.example") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{name}={raw!r} must start with http:// or https://.")
    host = parts.hostname or ""
    if not host or not _is_host(f"[{host}]" if ":" in host else host):
        raise ConfigError(f"{name}={raw!r} names no valid host.")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{name}={raw!r} may not hold a user name or password.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ConfigError(f"{name}={raw!r} may have no path, query or fragment: only scheme, host and port.")
    if port == 0:
        raise ConfigError(f"{name}={raw!r} has port 0.")
    return f"{parts.scheme}://{parts.netloc}"
