"""Field encryption, data-key wrapping, the key files and blind indexes (DESIGN invariant 2)."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from custody.crypto import keys
from custody.crypto.blind_index import INDEX_BYTES, KINDS, blind_index, equivalent, normalize
from custody.crypto.fields import (
    DecryptionFailed,
    decrypt_field,
    encrypt_field,
    new_data_key,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)

OWNER = "guests.guest:6f1c2b1e-6a35-4f0e-9b8e-2f4f8a9d0c11"
OTHER_OWNER = "guests.guest:0b7d3c4e-1111-4c2a-8f00-3a1b2c3d4e5f"
WHERE = {"table": "guests_guest", "column": "surname", "pk": "6f1c2b1e-6a35-4f0e-9b8e-2f4f8a9d0c11"}
SAMPLES = ["García López", "Müller-Lüdenscheidt", "王小明", "欧阳 娜娜", "Zoë 🏨👩‍👩‍👧", "", " ", "x" * 1000]


@pytest.fixture(autouse=True)
def key_home(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Keys are generated in a fresh CUSTODY_HOME for every test, never in the developer's."""
    home = tmp_path / "home"
    home.mkdir()
    settings.CUSTODY_HOME = home
    settings.CUSTODY_KEK_FILE = None
    settings.CUSTODY_INDEX_KEY_FILE = None
    keys.reset_key_caches()
    yield home
    keys.reset_key_caches()


def write_key_file(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def kek_document(current: int, **versions: bytes) -> str:
    encoded = {name.removeprefix("v"): base64.b64encode(key).decode() for name, key in versions.items()}
    return json.dumps({"format": "custody-kek/1", "current": current, "keys": encoded})


# --- field encryption -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", SAMPLES)
def test_round_trip_keeps_text_exactly(plaintext: str) -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, plaintext, **WHERE)
    assert decrypt_field(dek, blob, **WHERE) == plaintext
    assert decrypt_field(dek, memoryview(blob), **WHERE) == plaintext  # as psycopg returns bytea


def test_blob_shows_neither_text_nor_exact_length() -> None:
    dek = new_data_key()
    short, longer = encrypt_field(dek, "Li", **WHERE), encrypt_field(dek, "Maximilian", **WHERE)
    assert len(short) == len(longer) == 1 + 12 + 16 + 16
    assert short[0] == 0x01
    assert len(encrypt_field(dek, "", **WHERE)) == 45  # the empty string is encrypted too
    assert len(encrypt_field(dek, "x" * 16, **WHERE)) == 1 + 12 + 32 + 16
    assert b"Maximilian" not in longer
    assert encrypt_field(dek, "Li", **WHERE) != short  # random nonce: equal values do not look equal


@pytest.mark.parametrize(
    "moved_to",
    [
        {**WHERE, "table": "guests_identitydocument"},
        {**WHERE, "column": "given_name"},
        {**WHERE, "pk": "0b7d3c4e-1111-4c2a-8f00-3a1b2c3d4e5f"},
    ],
    ids=["other table", "other column", "other row"],
)
def test_blob_moved_elsewhere_fails(moved_to: dict[str, str]) -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, "García", **WHERE)
    with pytest.raises(DecryptionFailed, match="does not authenticate"):
        decrypt_field(dek, blob, **moved_to)


@pytest.mark.parametrize("position", [1, 5, 13, 20, -1])
def test_flipped_bit_fails(position: int) -> None:
    dek = new_data_key()
    blob = bytearray(encrypt_field(dek, "García", **WHERE))
    blob[position] ^= 0x04
    with pytest.raises(DecryptionFailed):
        decrypt_field(dek, bytes(blob), **WHERE)


def test_another_data_key_fails() -> None:
    blob = encrypt_field(new_data_key(), "García", **WHERE)
    with pytest.raises(DecryptionFailed, match="another guest's data key"):
        decrypt_field(new_data_key(), blob, **WHERE)


def test_unknown_format_and_truncated_blobs_fail_clearly() -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, "García", **WHERE)
    with pytest.raises(DecryptionFailed, match="unknown field format byte 0x02"):
        decrypt_field(dek, b"\x02" + blob[1:], **WHERE)
    with pytest.raises(DecryptionFailed, match="truncated"):
        decrypt_field(dek, blob[:-1], **WHERE)
    with pytest.raises(DecryptionFailed, match="empty"):
        decrypt_field(dek, b"", **WHERE)
    assert issubclass(DecryptionFailed, Exception)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_field(b"short", "x", **WHERE)
    with pytest.raises(ValueError, match=re.escape("without '|'")):
        encrypt_field(new_data_key(), "x", table="a|b", column="c", pk="1")
    with pytest.raises(ValueError, match="pk"):
        encrypt_field(new_data_key(), "x", table="a", column="c", pk="")


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintext=st.text(), pk=st.text(min_size=1))
def test_round_trip_any_text(plaintext: str, pk: str) -> None:
    dek = new_data_key()
    where = {**WHERE, "pk": pk}
    blob = encrypt_field(dek, plaintext, **where)
    assert decrypt_field(dek, blob, **where) == plaintext
    assert (len(blob) - 29) % 16 == 0 and len(blob) - 29 > len(plaintext.encode())


# --- data keys ------------------------------------------------------------------------------------------------


def test_wrapped_data_key_unwraps_for_its_owner_only() -> None:
    dek = new_data_key()
    wrapped, version = wrap_data_key(dek, owner=OWNER)
    assert version == 1
    assert dek not in wrapped
    assert unwrap_data_key(wrapped, owner=OWNER, kek_version=version) == dek
    with pytest.raises(DecryptionFailed, match="another owner's key"):
        unwrap_data_key(wrapped, owner=OTHER_OWNER, kek_version=version)


def test_unwrap_fails_after_the_kek_file_is_replaced(key_home: Path) -> None:
    wrapped, version = wrap_data_key(new_data_key(), owner=OWNER)
    kek_file = key_home / "keys" / "kek.json"
    kek_file.unlink()
    keys.reset_key_caches()
    assert wrap_data_key(new_data_key(), owner=OWNER)[1] == 1  # a new ring was generated, again version 1
    with pytest.raises(DecryptionFailed, match="replaced key-encryption key"):
        unwrap_data_key(wrapped, owner=OWNER, kek_version=version)


def test_replaced_kek_file_is_noticed_without_a_cache_reset(tmp_path: Path, settings: Any) -> None:
    kek_file = write_key_file(tmp_path / "kek.json", kek_document(1, v1=b"\x01" * 32))
    settings.CUSTODY_KEK_FILE = str(kek_file)
    wrapped, version = wrap_data_key(new_data_key(), owner=OWNER)
    replacement = write_key_file(tmp_path / "kek.new", kek_document(1, v1=b"\x02" * 32))
    replacement.replace(kek_file)  # another process rotating or an operator swapping the file: a new inode
    with pytest.raises(DecryptionFailed):
        unwrap_data_key(wrapped, owner=OWNER, kek_version=version)


def test_unknown_kek_version_fails() -> None:
    wrapped, _ = wrap_data_key(new_data_key(), owner=OWNER)
    with pytest.raises(DecryptionFailed, match="no key-encryption key of version 7"):
        unwrap_data_key(wrapped, owner=OWNER, kek_version=7)
    with pytest.raises(DecryptionFailed, match="not a format-1 wrapped key"):
        unwrap_data_key(wrapped[:-1], owner=OWNER, kek_version=1)


def test_rotation_rewraps_and_keeps_old_keys_readable(key_home: Path) -> None:
    dek_old, dek_other = new_data_key(), new_data_key()
    wrapped, version = wrap_data_key(dek_old, owner=OWNER)
    left_behind, _ = wrap_data_key(dek_other, owner=OTHER_OWNER)
    blob = encrypt_field(dek_old, "García López", **WHERE)

    assert keys.add_version() == 2
    assert keys.current_version() == 2
    assert keys.versions() == [1, 2]
    assert keys.kek(1) != keys.kek(2)

    new_wrapped, new_version = rewrap_data_key(wrapped, owner=OWNER, kek_version=version)
    assert new_version == 2
    assert new_wrapped != wrapped
    dek = unwrap_data_key(new_wrapped, owner=OWNER, kek_version=new_version)
    assert decrypt_field(dek, blob, **WHERE) == "García López"
    # a key not yet rewrapped is still readable under the version it records
    assert unwrap_data_key(left_behind, owner=OTHER_OWNER, kek_version=1) == dek_other
    # the new wrapping is bound to version 2
    with pytest.raises(DecryptionFailed):
        unwrap_data_key(new_wrapped, owner=OWNER, kek_version=1)
    # rewrapping again is a no-op, so a resumed rotation job does no harm
    assert rewrap_data_key(new_wrapped, owner=OWNER, kek_version=2) == (new_wrapped, 2)
    # new keys are wrapped under the new version
    assert wrap_data_key(new_data_key(), owner=OWNER)[1] == 2

    kek_file = key_home / "keys" / "kek.json"
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    document = json.loads(kek_file.read_text())
    assert document["format"] == "custody-kek/1"
    assert document["current"] == 2
    assert sorted(document["keys"]) == ["1", "2"]


def test_rotation_is_seen_by_another_process(key_home: Path) -> None:
    """A worker that loaded the ring before `custody keys rotate` wraps under the new version afterwards."""
    assert keys.current_version() == 1
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from custody.crypto import keys
        print(keys.add_version())
        """
    )
    env = {**os.environ, "CUSTODY_HOME": str(key_home), "DJANGO_SETTINGS_MODULE": "custody.settings"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert keys.current_version() == 2
    assert wrap_data_key(new_data_key(), owner=OWNER)[1] == 2


# --- key files ------------------------------------------------------------------------------------------------


def test_generated_key_files_are_private_and_reused(key_home: Path) -> None:
    first_kek, first_index = keys.kek(1), keys.index_key()
    folder = key_home / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("kek.json", "index.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert len(first_kek) == len(first_index) == 32
    assert first_kek != first_index
    assert len(base64.b64decode((folder / "index.key").read_text().strip(), validate=True)) == 32

    keys.reset_key_caches()
    assert keys.kek(1) == first_kek
    assert keys.index_key() == first_index
    assert sorted(p.name for p in folder.iterdir()) == ["index.key", "kek.json"]  # no temporary files left


@pytest.mark.parametrize("setting", ["CUSTODY_KEK_FILE", "CUSTODY_INDEX_KEY_FILE"])
def test_key_file_readable_by_others_is_refused(setting: str, tmp_path: Path, settings: Any) -> None:
    is_kek = setting == "CUSTODY_KEK_FILE"
    content = kek_document(1, v1=os.urandom(32)) if is_kek else base64.b64encode(os.urandom(32)).decode()
    path = write_key_file(tmp_path / "key", content, mode=0o644)
    setattr(settings, setting, str(path))
    load = keys.current_version if is_kek else keys.index_key
    with pytest.raises(
        ImproperlyConfigured, match=re.escape(f"{path} is readable by other users (mode 0644); run: chmod 600 {path}")
    ):
        load()
    path.chmod(0o600)
    load()


def test_generated_key_file_made_readable_later_is_refused(key_home: Path) -> None:
    keys.current_version()
    kek_file = key_home / "keys" / "kek.json"
    kek_file.chmod(0o640)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        keys.current_version()  # even though the ring was cached


@pytest.mark.parametrize("setting", ["CUSTODY_KEK_FILE", "CUSTODY_INDEX_KEY_FILE"])
def test_configured_key_file_must_exist(setting: str, tmp_path: Path, settings: Any) -> None:
    missing = tmp_path / "nowhere.key"
    setattr(settings, setting, str(missing))
    load = keys.current_version if setting == "CUSTODY_KEK_FILE" else keys.index_key
    with pytest.raises(ImproperlyConfigured, match=f"{setting}={missing}: no such file"):
        load()
    assert not missing.exists()


def test_configured_kek_file_is_used_and_rotated_in_place(tmp_path: Path, settings: Any) -> None:
    kek_file = write_key_file(tmp_path / "kek.json", kek_document(3, v1=b"\x01" * 32, v3=b"\x03" * 32))
    settings.CUSTODY_KEK_FILE = str(kek_file)
    assert keys.current_version() == 3
    assert keys.kek(1) == b"\x01" * 32
    with pytest.raises(keys.UnknownKeyVersion):
        keys.kek(2)
    assert keys.add_version() == 4
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert json.loads(kek_file.read_text())["current"] == 4
    assert keys.kek(3) == b"\x03" * 32


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": "custody-kek/2", "current": 1, "keys": {"1": base64.b64encode(b"k" * 32).decode()}}),
        json.dumps({"format": "custody-kek/1", "current": 2, "keys": {"1": base64.b64encode(b"k" * 32).decode()}}),
        json.dumps({"format": "custody-kek/1", "current": 1, "keys": {"1": base64.b64encode(b"k" * 16).decode()}}),
        json.dumps({"format": "custody-kek/1", "current": 1, "keys": {"one": base64.b64encode(b"k" * 32).decode()}}),
        json.dumps({"format": "custody-kek/1", "current": 1, "keys": {}}),
    ],
    ids=["not json", "format", "current", "key length", "version", "empty"],
)
def test_malformed_kek_file_is_refused(content: str, tmp_path: Path, settings: Any) -> None:
    settings.CUSTODY_KEK_FILE = str(write_key_file(tmp_path / "kek.json", content))
    with pytest.raises(ImproperlyConfigured, match="is not a valid custody-kek/1 key ring"):
        keys.current_version()


def test_malformed_index_key_is_refused(tmp_path: Path, settings: Any) -> None:
    settings.CUSTODY_INDEX_KEY_FILE = str(write_key_file(tmp_path / "index.key", "c2hvcnQ=\n"))
    with pytest.raises(ImproperlyConfigured, match="32 random bytes in base64"):
        blind_index("name", "García")


# --- normalization --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("name", "García  López", "garcia lopez"),
        ("name", "  GARCÍA\tLÓPEZ \n", "garcia lopez"),
        ("name", "ＧＡＲＣＩＡ", "garcia"),
        ("name", "Garcı́a", "garcia"),  # dotless i + combining acute
        ("name", "Gar\u00adcía\u200b", "garcia"),  # soft hyphen, zero-width space
        ("name", "Straße", "strasse"),
        ("name", "Łukasz Wałęsa", "lukasz walesa"),
        ("name", "Søren Yıldız", "soren yildiz"),
        ("name", "Ñúñez", "nunez"),
        ("name", "王小明", "王小明"),
        ("name", "欧阳　娜娜", "欧阳 娜娜"),  # ideographic space becomes one space
        ("name", "李 Wei", "李 wei"),
        ("id_number", "X-1234.567/Z", "X1234567Z"),
        ("id_number", "x 1234567 z", "X1234567Z"),
        ("id_number", "Ｘ１２３４５６７Ｚ", "X1234567Z"),
        ("id_number", "G12345678", "G12345678"),
        ("phone", "+34 600-123-456", "34600123456"),
        ("phone", "0034600123456", "34600123456"),
        ("phone", "+34 (600) 123 456", "34600123456"),
        ("phone", "＋３４ ６００ １２３ ４５６", "34600123456"),
        ("phone", "+86 138 0013 8000", "8613800138000"),
        ("phone", "600 123 456", "600123456"),
        ("email", "  Ana.Garcia@Example.COM ", "ana.garcia@example.com"),
        ("email", "ａｎａ@example.com", "ana@example.com"),
        ("booking_reference", "bk-2024/00017", "BK202400017"),
        ("booking_reference", "ＢＫ　２０２４ ００017", "BK202400017"),
    ],
)
def test_normalize_examples(kind: str, value: str, expected: str) -> None:
    assert normalize(kind, value) == expected


@pytest.mark.parametrize("name", ["王小明", "欧阳娜娜", "司马 懿", "김민준", "Ἀθηνᾶ"])
def test_accent_folding_keeps_non_latin_scripts_readable(name: str) -> None:
    normalized = normalize("name", name)
    assert normalized == normalize("name", normalized)
    if all("\u4e00" <= char <= "\u9fff" or char == " " for char in name):
        assert normalized == name  # Chinese characters are not touched


@pytest.mark.parametrize(
    ("kind", "value"),
    [("name", "   "), ("name", "\u200b"), ("id_number", "-./"), ("phone", "+ ()"), ("phone", "00"), ("email", " ")],
)
def test_values_that_normalize_to_nothing_are_refused(kind: str, value: str) -> None:
    with pytest.raises(ValueError, match="empty once normalized"):
        normalize(kind, value)
    with pytest.raises(ValueError):
        blind_index(kind, value)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown blind index kind 'surname'"):
        normalize("surname", "García")
    with pytest.raises(ValueError, match="unknown blind index kind"):
        blind_index("surname", "García")


@hypothesis_settings(max_examples=500, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), value=st.text(st.characters(codec=None, exclude_categories=())))
def test_normalize_raises_only_value_error_and_is_idempotent(kind: str, value: str) -> None:
    try:
        normalized = normalize(kind, value)
    except ValueError:
        return
    assert normalized
    assert normalize(kind, normalized) == normalized


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(KINDS)), value=st.text(st.characters(codec=None, exclude_categories=())))
def test_blind_index_raises_only_value_error(kind: str, value: str) -> None:
    try:
        index = blind_index(kind, value)
    except ValueError:
        return
    assert len(index) == INDEX_BYTES


# --- blind indexes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "first", "second"),
    [
        ("name", "García  López", "garcia lopez"),
        ("name", "ＧＡＲＣＩＡ", "García"),
        ("name", "王小明", "王小明 "),
        ("id_number", "X-1234.567/Z", "x1234567z"),
        ("phone", "+34 600-123-456", "0034600123456"),
        ("email", "Ana@Example.com", "ana@example.com "),
        ("booking_reference", "bk-2024-17", "BK202417"),
    ],
)
def test_equivalent_inputs_share_an_index(kind: str, first: str, second: str) -> None:
    assert blind_index(kind, first) == blind_index(kind, second)
    assert equivalent(kind, first, second)


def test_index_is_four_bytes_and_differs_between_values_and_kinds() -> None:
    index = blind_index("name", "Garcia")
    assert isinstance(index, bytes) and len(index) == INDEX_BYTES == 4
    assert blind_index("name", "Garcia") == index  # deterministic, so it can be searched
    assert blind_index("name", "Garcie") != index
    assert blind_index("booking_reference", "Garcia") != blind_index("id_number", "Garcia")
    assert len({blind_index(kind, "GARCIA") for kind in KINDS - {"phone"}}) == len(KINDS) - 1
    assert not equivalent("name", "García", "Garcés")


def test_index_depends_on_the_index_key(tmp_path: Path, settings: Any) -> None:
    default = blind_index("name", "García López")
    settings.CUSTODY_INDEX_KEY_FILE = str(
        write_key_file(tmp_path / "other.key", base64.b64encode(os.urandom(32)).decode())
    )
    assert blind_index("name", "García López") != default


def test_index_key_is_not_a_key_encryption_key(key_home: Path) -> None:
    index = blind_index("name", "García")
    assert (key_home / "keys" / "index.key").exists()
    assert not (key_home / "keys" / "kek.json").exists()  # searching needs no key that can decrypt
    assert blind_index("name", "garcia") == index


def test_few_collisions_among_many_values() -> None:
    """32 bits: among 20,000 distinct surnames, collisions are expected to be about n²/2³³ ≈ 0.05."""
    indexes = {blind_index("name", f"surname {number}") for number in range(20_000)}
    assert len(indexes) >= 19_998
