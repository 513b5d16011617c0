"""Strict environment parsing: a bad value stops start-up with a message naming the variable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from custody.lib import env as envparse


def test_booleans_accept_only_known_words() -> None:
    assert envparse.parse_bool({"X": "yes"}, "X", default=False) is True
    assert envparse.parse_bool({"X": "0"}, "X", default=True) is False
    assert envparse.parse_bool({}, "X", default=True) is True
    with pytest.raises(envparse.ConfigError, match="X='maybe' is not a boolean"):
        envparse.parse_bool({"X": "maybe"}, "X", default=False)


def test_integers_are_range_checked() -> None:
    assert envparse.parse_int({"N": "15"}, "N", 5, minimum=1, maximum=60) == 15
    with pytest.raises(envparse.ConfigError, match="N='ten' is not a whole number"):
        envparse.parse_int({"N": "ten"}, "N", 5, minimum=1, maximum=60)
    with pytest.raises(envparse.ConfigError, match="N=0 is out of range"):
        envparse.parse_int({"N": "0"}, "N", 5, minimum=1, maximum=60)


def test_allowed_hosts_refuse_wildcards_and_garbage() -> None:
    assert envparse.parse_hosts({"H": "custody.example.org, 10.0.0.5"}, "H", []) == ["custody.example.org", "10.0.0.5"]
    with pytest.raises(envparse.ConfigError, match="may not contain"):
        envparse.parse_hosts({"H": "*"}, "H", [])
    with pytest.raises(envparse.ConfigError, match="not a host name"):
        envparse.parse_hosts({"H": "exa mple.org"}, "H", [])
    with pytest.raises(envparse.ConfigError, match="empty entry"):
        envparse.parse_hosts({"H": "a.org,,b.org"}, "H", [])


def test_database_urls(tmp_path: Path) -> None:
    pg = envparse.parse_database_url(
        {"D": "postgresql://bob:s%40cret@db.internal:6543/custody?sslmode=require"}, "D", tmp_path
    )
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "bob",
        "s@cret",
        "db.internal",
        "6543",
        "custody",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    default = envparse.parse_database_url({}, "D", tmp_path)
    assert default["NAME"] == str(tmp_path / "custody.sqlite3")
    assert "journal_mode=WAL" in default["OPTIONS"]["init_command"]
    with pytest.raises(envparse.ConfigError, match="unsupported scheme 'mysql'"):
        envparse.parse_database_url({"D": "mysql://x@y/z"}, "D", tmp_path)
    with pytest.raises(envparse.ConfigError, match="names no database"):
        envparse.parse_database_url({"D": "postgresql://x@y/"}, "D", tmp_path)
    with pytest.raises(envparse.ConfigError, match=r"\*\*\*"):
        envparse.parse_database_url({"D": "oracle://u:hunter2@h/db"}, "D", tmp_path)


def test_secret_from_file_and_not_both(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 10 + "abcdefghij" * 5 + "\n")
    assert envparse.read_secret({"S_FILE": str(key_file)}, "S") == "k" * 10 + "abcdefghij" * 5
    with pytest.raises(envparse.ConfigError, match="either S or S_FILE"):
        envparse.read_secret({"S": "x", "S_FILE": str(key_file)}, "S")
    with pytest.raises(envparse.ConfigError, match="no such file"):
        envparse.read_secret({"S_FILE": str(tmp_path / "missing")}, "S")
    with pytest.raises(envparse.ConfigError, match="too weak"):
        envparse.check_secret_key("S", "short")


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    first = envparse.load_or_create_secret_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envparse.load_or_create_secret_file(path) == first
    path.chmod(0o644)
    with pytest.raises(envparse.ConfigError, match="readable by other users"):
        envparse.load_or_create_secret_file(path)


def _custody(args: list[str], env_overrides: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTODY_", "DATABASE_URL"))}
    env.update({"CUSTODY_HOME": str(home), **env_overrides})
    return subprocess.run(
        [sys.executable, "-m", "custody.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CUSTODY_DEBUG", "sometimes", "CUSTODY_DEBUG='sometimes' is not a boolean"),
        ("DATABASE_URL", "mongodb://h/db", "unsupported scheme 'mongodb'"),
        ("CUSTODY_ALLOWED_HOSTS", "*", "CUSTODY_ALLOWED_HOSTS may not contain '*'"),
        ("CUSTODY_SECRET_KEY", "tooshort", "CUSTODY_SECRET_KEY is too weak"),
        ("CUSTODY_SESSION_IDLE_MINUTES", "-5", "CUSTODY_SESSION_IDLE_MINUTES=-5 is out of range"),
        ("CUSTODY_FOOTAGE_MIN_FREE_PERCENT", "90", "CUSTODY_FOOTAGE_MIN_FREE_PERCENT=90 is out of range"),
        ("CUSTODY_EVIDENCE_LINK_HOURS", "soon", "CUSTODY_EVIDENCE_LINK_HOURS='soon' is not a whole number"),
    ],
)
def test_bad_environment_stops_startup_with_clear_message(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = _custody(["check"], {variable: value}, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_secret_key_is_generated_0600(tmp_path: Path) -> None:
    result = _custody(["check"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    key = tmp_path / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) >= 50


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    key = tmp_path / "prod-key"
    key.write_text("p" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz")
    result = _custody(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {"CUSTODY_HTTPS": "1", "CUSTODY_SECRET_KEY_FILE": str(key), "CUSTODY_ALLOWED_HOSTS": "custody.hotel.example"},
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_plain_http_settings_fail_check_deploy(tmp_path: Path) -> None:
    # Proves the check above is meaningful: without CUSTODY_HTTPS the deploy check complains.
    result = _custody(["check", "--deploy", "--fail-level", "WARNING"], {}, tmp_path)
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


def test_default_database_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    result = _custody(["migrate", "-v", "0"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "custody.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
