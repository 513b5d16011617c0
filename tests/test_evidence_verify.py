"""`custody evidence verify`: a good package verifies; each kind of tampering fails naming what failed; the README's
standard-tool instructions work."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from custody.audit import keys
from custody.evidence import exporting, package
from custody.evidence.verify import verify_package
from custody.lib.canonical_json import canonical_json
from tests.conftest import Hotel
from tests.test_evidence_fixtures import export_of, make_footage

Members = dict[str, bytes]


def rewrite(source: Path, target: Path, change: Callable[[Members], Members]) -> Path:
    """A copy of the package with its members changed, written as a well-formed zip (CRCs recomputed), as a
    forger would."""
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in change(files).items():
            archive.writestr(name, data)
    return target


def flip_clip_byte(files: Members) -> Members:
    clip = bytearray(files["clips/CAM-1.mp4"])
    clip[len(clip) // 2] ^= 0x01
    return files | {"clips/CAM-1.mp4": bytes(clip)}


def edit_manifest(files: Members) -> Members:
    manifest = json.loads(files["manifest.json"])
    manifest["requested_window"]["start"] = "2026-03-01T09:00:00.000000Z"
    return files | {"manifest.json": canonical_json(manifest)}


def pretty_manifest(files: Members) -> Members:
    return files | {"manifest.json": json.dumps(json.loads(files["manifest.json"]), indent=2).encode()}


def swap_signature(files: Members) -> Members:
    other = keys.sign(files["manifest.json"] + b" ")  # the hotel's key, but over other bytes
    return files | {"manifest.sig": other.encode() + b"\n"}


def drop_report(files: Members) -> Members:
    return {name: data for name, data in files.items() if name != "chain-of-custody.pdf"}


def add_extra(files: Members) -> Members:
    return files | {"clips/EXTRA.mp4": b"not evidence"}


def forge_with_own_key(files: Members) -> Members:
    """Change a clip, fix its hash in the manifest, and sign with the forger's own key (put in the manifest)."""
    forger = Ed25519PrivateKey.generate()
    changed = flip_clip_byte(files)
    manifest = json.loads(files["manifest.json"])
    for row in manifest["files"]:
        if row["path"] == "clips/CAM-1.mp4":
            row["sha256"] = package.sha256_bytes(changed["clips/CAM-1.mp4"])
    public = forger.public_key()
    manifest["signer"] = {
        "algorithm": "Ed25519",
        "key_id": keys.key_id(public),
        "public_key": keys.public_key_pem(public),
    }
    data = canonical_json(manifest)
    signature = base64.b64encode(forger.sign(data))
    return changed | {"manifest.json": data, "manifest.sig": signature}


CASES: list[tuple[str, Callable[[Members], Members], str]] = [
    ("tampered clip byte", flip_clip_byte, "clips/CAM-1.mp4: sha256 mismatch"),
    ("edited manifest", edit_manifest, "manifest.sig: signature does not match manifest.json"),
    ("re-serialised manifest", pretty_manifest, "manifest.json: not canonical JSON (RFC 8785); it was edited"),
    ("swapped signature", swap_signature, "manifest.sig: signature does not match manifest.json"),
    ("missing file", drop_report, "chain-of-custody.pdf: missing"),
    ("extra file", add_extra, "clips/EXTRA.mp4: not listed in manifest.json"),
]


@pytest.fixture
def good_package(hotel: Hotel, tmp_path: Path, settings: Any) -> Path:
    settings.CUSTODY_HOME = tmp_path / "home"
    settings.CUSTODY_HOME.mkdir(mode=0o700)
    settings.CUSTODY_AUDIT_KEY_FILE = None
    keys._load.cache_clear()
    footage = make_footage(hotel, tmp_path, second_camera=False)
    export = exporting.run_export(export_of(footage).pk)
    assert export.status == "done", export.error_code
    return package.package_path(export)


def verify_cli(path: Path, *extra: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("evidence", "verify", str(path), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_good_package_verifies_and_each_tampering_fails_with_its_reason(good_package: Path, tmp_path: Path) -> None:
    hotel_key = tmp_path / "hotel-key.pem"
    hotel_key.write_text(keys.public_key_pem())
    out, _ = verify_cli(good_package, "--public-key", str(hotel_key))
    assert "OK: evidence package" in out and "4 files intact" in out

    for label, change, reason in CASES:
        bad = rewrite(good_package, tmp_path / f"{label.replace(' ', '-')}.zip", change)
        result = verify_package(bad)
        assert reason in result.problems, f"{label}: {result.problems}"
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("evidence", "verify", str(bad), stdout=io.StringIO(), stderr=err)
        assert f"FAILED: {reason}" in err.getvalue(), label


@pytest.mark.django_db
def test_wrong_public_key_fails_and_a_forgers_key_is_caught(good_package: Path, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(keys.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    result = verify_package(good_package, public_key_pem=stranger.read_bytes())
    assert any(p.startswith("manifest.json: signed by key ") and "not by the given public key" in p
               for p in result.problems), result.problems  # fmt: skip
    assert "manifest.sig: signature does not match manifest.json" in result.problems

    forged = rewrite(good_package, tmp_path / "forged.zip", forge_with_own_key)
    assert verify_package(forged).ok  # intact as far as its own key goes...
    hotel_key = keys.public_key_pem().encode()
    problems = verify_package(forged, public_key_pem=hotel_key).problems  # ...but not signed by the hotel
    assert "manifest.sig: signature does not match manifest.json" in problems


@pytest.mark.django_db
def test_damaged_bytes_and_non_zip_files(good_package: Path, tmp_path: Path) -> None:
    data = bytearray(good_package.read_bytes())
    with zipfile.ZipFile(good_package) as archive:
        info = archive.getinfo("clips/CAM-1.mp4")
    data[info.header_offset + 200] ^= 0xFF  # inside the stored clip; the zip's CRC no longer matches either
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    problems = verify_package(damaged).problems
    assert any(p.startswith("clips/CAM-1.mp4: sha256 mismatch") for p in problems), problems

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert verify_package(junk).problems[0].startswith("junk.zip: not a readable zip file")
    with pytest.raises(CommandError, match="no such file"):
        verify_cli(tmp_path / "absent.zip")


@pytest.mark.django_db
@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("jq")), reason="needs openssl and jq")
def test_the_readmes_standard_tool_commands_work(good_package: Path, tmp_path: Path) -> None:
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(good_package) as archive:
        archive.extractall(folder)
        readme = archive.read("README.txt").decode()
    # The README leads with the hotel's published key, obtained out of band, and says why the embedded one is not proof.
    assert readme.index("FIRST: GET THE HOTEL'S PUBLIC KEY") < readme.index("CONTENTS")
    assert "verifies against its own\n  embedded key" in readme
    assert "openssl pkeyutl -verify -pubin -inkey HOTEL-KEY.pem -rawin" in readme
    assert "custody evidence verify PACKAGE.zip --public-key HOTEL-KEY.pem\n" in readme
    (folder / "HOTEL-KEY.pem").write_text(keys.public_key_pem())  # the key the hotel publishes
    script = (
        "set -e\n"
        "base64 -d manifest.sig > manifest.sig.bin\n"
        "openssl pkeyutl -verify -pubin -inkey HOTEL-KEY.pem -rawin -in manifest.json -sigfile manifest.sig.bin\n"
        "jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum -c\n"
    )
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Signature Verified Successfully" in done.stdout
    assert "clips/CAM-1.mp4: OK" in done.stdout
    (folder / "clips" / "CAM-1.mp4").write_bytes(b"changed")
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "clips/CAM-1.mp4: FAILED" in done.stdout
