"""Offline verification of an evidence package (``custody evidence verify PACKAGE.zip [--public-key FILE]``).

Checks, in order: the zip is readable; manifest.json is there, is canonical JSON (serialising it again gives the same
bytes) and has the known format; manifest.sig is a valid Ed25519 signature over those bytes, by the key in the
manifest or, with ``--public-key``, by that key (a manifest naming another key fails); every listed file is there
with its size and SHA-256; nothing else is in the zip but manifest.sig. Needs no database and no network.

Each problem is a line naming what failed, e.g. ``clips/LOBBY-1.mp4: sha256 mismatch``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.audit import keys
from custody.evidence.package import FORMAT, MANIFEST, SIGNATURE
from custody.lib.canonical_json import NotCanonicalizable, canonical_json

CHUNK = 1024 * 1024


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    files_checked: int = 0
    key_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = self.manifest.get("audit_tree_head") or {}
        return (
            f"OK: evidence package {self.manifest.get('package_id')} (request {self.manifest.get('request_number')}), "
            f"{self.files_checked} files intact, signed by key {self.key_id}"
            + (f", audit tree head {head.get('tree_size')} {head.get('root_hash')}" if head else "")
        )


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with archive.open(info) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _load_key(pem: bytes, label: str, result: Verification) -> Ed25519PublicKey | None:
    try:
        return keys.load_public_key_pem(pem)
    except ValueError:
        result.problems.append(f"{label}: not an Ed25519 public key (PEM)")
        return None


def verify_package(path: Path, *, public_key_pem: bytes | None = None) -> Verification:
    result = Verification()
    given = _load_key(public_key_pem, "--public-key", result) if public_key_pem is not None else None
    if public_key_pem is not None and given is None:
        return result
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"{path.name}: not a readable zip file ({exc})")
        return result
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        for name in duplicates:
            result.problems.append(f"{name}: more than one file with this name")
        by_name = {info.filename: info for info in infos}
        if MANIFEST not in by_name:
            result.problems.append(f"{MANIFEST}: missing")
            return result
        try:
            manifest_bytes = archive.read(MANIFEST)
        except (OSError, zipfile.BadZipFile) as exc:
            result.problems.append(f"{MANIFEST}: unreadable ({exc})")
            return result
        manifest = _parse_manifest(manifest_bytes, result)
        if manifest is None:
            return result
        result.manifest = manifest
        _check_signature(archive, by_name, manifest, manifest_bytes, given, result)
        _check_files(archive, by_name, manifest, result)
    return result


def _parse_manifest(data: bytes, result: Verification) -> dict[str, Any] | None:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        result.problems.append(f"{MANIFEST}: not valid JSON")
        return None
    if not isinstance(manifest, dict):
        result.problems.append(f"{MANIFEST}: not a JSON object")
        return None
    try:
        canonical = canonical_json(manifest)
    except NotCanonicalizable:
        canonical = b""
    if canonical != data:
        result.problems.append(f"{MANIFEST}: not canonical JSON (RFC 8785); it was edited")
    if manifest.get("format") != FORMAT:
        result.problems.append(f"{MANIFEST}: unknown format {str(manifest.get('format'))[:40]!r}, not {FORMAT!r}")
        return None
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str) for f in files
    ):
        result.problems.append(f"{MANIFEST}: the file list is malformed")
        return None
    return manifest


def _check_signature(
    archive: zipfile.ZipFile,
    by_name: dict[str, zipfile.ZipInfo],
    manifest: dict[str, Any],
    manifest_bytes: bytes,
    given: Ed25519PublicKey | None,
    result: Verification,
) -> None:
    signer = manifest.get("signer") if isinstance(manifest.get("signer"), dict) else {}
    assert isinstance(signer, dict)
    named = _load_key(str(signer.get("public_key", "")).encode("ascii", "replace"), f"{MANIFEST}: signer", result)
    if named is not None and signer.get("key_id") != keys.key_id(named):
        result.problems.append(f"{MANIFEST}: signer key_id does not match its public key")
    if given is not None and named is not None and keys.raw_public_key(given) != keys.raw_public_key(named):
        result.problems.append(
            f"{MANIFEST}: signed by key {keys.key_id(named)}, not by the given public key {keys.key_id(given)}"
        )
    key = given or named
    if key is None:
        return
    result.key_id = keys.key_id(key)
    if SIGNATURE not in by_name:
        result.problems.append(f"{SIGNATURE}: missing")
        return
    signature = archive.read(SIGNATURE).decode("ascii", "replace").strip()
    if not keys.signature_valid(key, manifest_bytes, signature):
        result.problems.append(f"{SIGNATURE}: signature does not match {MANIFEST}")


def _check_files(
    archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], manifest: dict[str, Any], result: Verification
) -> None:
    listed: set[str] = set()
    for row in manifest["files"]:
        name = row["path"]
        listed.add(name)
        info = by_name.get(name)
        if info is None:
            result.problems.append(f"{name}: missing")
            continue
        try:
            size, digest = _hash_member(archive, info)
        except (OSError, zipfile.BadZipFile) as exc:  # a CRC error: the stored bytes were changed
            result.problems.append(f"{name}: sha256 mismatch (the stored bytes are damaged: {exc})")
            continue
        if size != row.get("size"):
            result.problems.append(f"{name}: size mismatch ({size} bytes, manifest says {row.get('size')})")
        if digest != row["sha256"]:
            result.problems.append(f"{name}: sha256 mismatch")
        else:
            result.files_checked += 1
    for name in sorted(set(by_name) - listed - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{name}: not listed in {MANIFEST}")
