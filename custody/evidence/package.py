"""The evidence package (DESIGN.md, "Evidence package"): manifest, signature, README, chain-of-custody report, zip.

Layout of ``<request number>-<export id>.zip``::

    manifest.json          canonical JSON (RFC 8785), format "custody-evidence/1"
    manifest.sig           Ed25519 over the exact bytes of manifest.json, base64
    public-key.pem         the signer's public key (SubjectPublicKeyInfo PEM), also in the manifest
    clips/<CAMERA>.mp4     one clip per camera
    chain-of-custody.pdf   the report: request, approvals, grant, export options, hashes, windows, who did what
    README.txt             how to verify with sha256sum, jq and openssl, or `custody evidence verify`

Every file but manifest.sig is listed in the manifest with its size and SHA-256, so nothing can be added, removed
or changed without the signature check failing.

The signing key is the audit log's Ed25519 key (custody.audit.keys): it is the one key a hotel already publishes and
anchors (tree heads are signed with it), so a package and the audit log it cites are checked against the same key,
and the manifest's audit tree head ties the package to the log. docs/evidence.md says why no separate key is used.

The zip is written as ``<name>.zip.part-<attempt>`` (each run of the export writes its own) through a writer that
hashes what it writes, fsynced, then renamed into place with os.replace, only once the caller has checked it still
holds the export: a package file under its final name is always complete, and it is the one the export records.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from custody.accounts.models import User
from custody.audit import keys
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry, TreeHead
from custody.core.pdf import PdfDocument
from custody.evidence.models import Export, ExportClip
from custody.lib.canonical_json import canonical_json
from custody.requests.models import Approval, Decision, LegalBasis, Purpose, RequestType

FORMAT = "custody-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public-key.pem"
REPORT = "chain-of-custody.pdf"
README = "README.txt"
CHUNK = 1024 * 1024
ZIP64_FROM = 2**31  # files at least this big get ZIP64 headers (sizes are unknown to a streaming zip writer)
LOG_ROWS = 400  # the report's log is cut after this many entries (the audit log itself has them all)


def packages_dir() -> Path:
    return Path(settings.CUSTODY_HOME) / "packages"


def work_dir(export: Export) -> Path:
    return packages_dir() / "work" / str(export.pk)


def package_path(export: Export) -> Path:
    return packages_dir() / export.package_name


def package_name(export: Export) -> str:
    return f"{export.request.number}-{export.pk}.zip"


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class MemberFile:
    """A small file of the package held in memory (report, README, public key)."""

    path: str
    data: bytes

    def row(self, kind: str) -> dict[str, Any]:
        return {"path": self.path, "kind": kind, "size": len(self.data), "sha256": sha256_bytes(self.data)}


# --- manifest -----------------------------------------------------------------------------------------------------


def clip_row(clip: ExportClip) -> dict[str, Any]:
    return {
        "path": clip.path,
        "kind": "clip",
        "size": clip.size,
        "sha256": clip.sha256,
        "camera": clip.camera.code,
        "actual_start": rfc3339(clip.actual_start),
        "actual_end": rfc3339(clip.actual_end),
        "source_sha256s": list(clip.source_sha256s),
        "redacted": clip.redacted,
        "watermarked": clip.watermarked,
    }


def approval_rows(export: Export) -> list[dict[str, Any]]:
    """Who approved, in which roles, when: ids and codes, never names."""
    approvals = Approval.objects.filter(
        request=export.request, decision__in=[Decision.APPROVE, Decision.NARROW]
    ).order_by("created_at", "id")
    return [
        {
            "approval_id": str(a.pk),
            "approver_id": a.approver_id,
            "roles": sorted(a.approver_roles),
            "decision": a.decision,
            "at": rfc3339(a.created_at),
        }
        for a in approvals
    ]


def tree_head_row(head: TreeHead | None) -> dict[str, Any] | None:
    return head.published() if head is not None else None


def build_manifest(
    export: Export, clips: list[ExportClip], others: list[dict[str, Any]], head: TreeHead | None, created_at: datetime
) -> dict[str, Any]:
    public = keys.public_key()
    access = export.request
    return {
        "format": FORMAT,
        "package_id": str(export.pk),
        "request_id": str(access.pk),
        "request_number": access.number,
        "request_type": access.request_type,
        "purpose": access.purpose,
        "grant_id": str(export.grant_id),
        "created_at": rfc3339(created_at),
        "created_by": export.created_by_id,
        "property": {"id": export.property_id, "code": export.property.code},
        "requested_window": {"start": rfc3339(export.requested_start), "end": rfc3339(export.requested_end)},
        "actual_window": {"start": rfc3339(export.actual_start), "end": rfc3339(export.actual_end)},
        "options": {"watermark": export.watermark},
        "files": [clip_row(c) for c in clips] + others,
        "approvals": approval_rows(export),
        "signer": {"algorithm": "Ed25519", "key_id": keys.key_id(public), "public_key": keys.public_key_pem(public)},
        "audit_tree_head": tree_head_row(head),
    }


def sign_manifest(manifest: dict[str, Any]) -> tuple[bytes, str]:
    """The manifest's exact bytes and the base64 Ed25519 signature over them."""
    data = canonical_json(manifest)
    return data, keys.sign(data)


# --- README -------------------------------------------------------------------------------------------------------


def readme_text(export: Export, key_id: str) -> str:
    access = export.request
    return f"""Custody evidence package {export.pk}
Request {access.number} at {export.property.code}. Signer key id {key_id}.

FIRST: GET THE HOTEL'S PUBLIC KEY
  Verify against the hotel's published public key, obtained from the hotel out of band (its website, a
  letter, its audit log's published key), saved as HOTEL-KEY.pem; its key id must be {key_id}.
  The public-key.pem inside this package is NOT proof of who signed: anyone who changes the package and
  re-signs it with their own key puts their own key here, and such a package verifies against its own
  embedded key. Only a check against the hotel's key shows the hotel signed it.

CONTENTS
  manifest.json         What the package holds: every file with its size and SHA-256, the requested window
                        and the actual one (clips start at a keyframe), the SHA-256 of every source segment,
                        redaction and watermark flags, the approvals and the audit log's signed tree head.
                        Canonical JSON (RFC 8785); format "custody-evidence/1".
  manifest.sig          Ed25519 signature over the exact bytes of manifest.json, base64.
  public-key.pem        The signer's public key, for convenience only. Never verify with it: use the key
                        the hotel publishes (key id above); a re-signed package carries the re-signer's key.
  clips/<CAMERA>.mp4    One clip per camera. Originals are never changed: these are copies.
  chain-of-custody.pdf  Request, purpose, approvals, grant, export options, file hashes, requested and
                        actual windows, and the log of who did what (English and Chinese).
  README.txt            This file.

VERIFY WITH STANDARD TOOLS (Linux or macOS; OpenSSL 3, jq)
  unzip PACKAGE.zip -d package && cd package

  1. The signature over the manifest, with the hotel's key (HOTEL-KEY.pem, obtained from the hotel):
       base64 -d manifest.sig > manifest.sig.bin
       openssl pkeyutl -verify -pubin -inkey HOTEL-KEY.pem -rawin \\
           -in manifest.json -sigfile manifest.sig.bin
     It must print "Signature Verified Successfully".

  2. Every file against the manifest:
       jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c
     Every line must end in ": OK". Without jq:
       python3 -c 'import json; [print(f["sha256"] + "  " + f["path"])
           for f in json.load(open("manifest.json"))["files"]]' | sha256sum -c

  3. No other files: every file in the zip except manifest.sig is listed in manifest.json.
       unzip -Z1 PACKAGE.zip | sort
       jq -r '.files[].path' manifest.json | sort

VERIFY WITH CUSTODY
  custody evidence verify PACKAGE.zip --public-key HOTEL-KEY.pem
  It checks all of the above and names what failed (exit status 0: the package is intact and signed by
  that key). Without --public-key it uses the package's own key, which proves only that the package is
  intact, not who signed it.
"""


# --- chain-of-custody report --------------------------------------------------------------------------------------

LABELS = {
    "title": gettext_noop("Chain of custody"),
    "package": gettext_noop("Evidence package"),
    "request": gettext_noop("Request"),
    "number": gettext_noop("Request number"),
    "type": gettext_noop("Request type"),
    "purpose": gettext_noop("Purpose"),
    "legal_basis": gettext_noop("Legal basis"),
    "requester": gettext_noop("Requested by"),
    "submitted": gettext_noop("Submitted"),
    "decided": gettext_noop("Decided"),
    "approvals": gettext_noop("Approvals"),
    "approver": gettext_noop("Approver"),
    "roles": gettext_noop("Roles"),
    "decision": gettext_noop("Decision"),
    "time": gettext_noop("Time"),
    "grant": gettext_noop("Grant"),
    "holder": gettext_noop("Holder"),
    "granted_window": gettext_noop("Granted window"),
    "valid_until": gettext_noop("Valid until"),
    "export": gettext_noop("Export"),
    "created_by": gettext_noop("Created by"),
    "created_at": gettext_noop("Created at"),
    "cameras": gettext_noop("Cameras"),
    "requested_window": gettext_noop("Requested window"),
    "actual_window": gettext_noop("Actual window (from the first keyframe)"),
    "watermark": gettext_noop("Burned-in watermark"),
    "files": gettext_noop("Files"),
    "file": gettext_noop("File"),
    "size": gettext_noop("Size (bytes)"),
    "camera": gettext_noop("Camera"),
    "changes": gettext_noop("Changes"),
    "redacted": gettext_noop("privacy masks"),
    "watermarked": gettext_noop("watermark"),
    "none": gettext_noop("none (stream copy)"),
    "signature": gettext_noop("Signature"),
    "key": gettext_noop("Signer key id"),
    "tree_head": gettext_noop("Audit tree head at export time"),
    "log": gettext_noop("Who did what"),
    "who": gettext_noop("Who"),
    "what": gettext_noop("What"),
    "outcome": gettext_noop("Outcome"),
    "yes": gettext_noop("yes"),
    "no": gettext_noop("no"),
    "log_cut": gettext_noop("The log is cut here; the audit log holds every entry."),
    "note": gettext_noop("Each file's SHA-256 is also in manifest.json, which is signed."),
}


def both(key: str) -> str:
    """A label in English and in Simplified Chinese, for a report read on both sides of a border."""
    message = LABELS[key]
    with translation.override("en"):
        english = gettext(message)
    with translation.override("zh-hans"):
        chinese = gettext(message)
    return english if chinese == english else f"{english} / {chinese}"


def both_choice(choices: Any, value: str) -> str:
    try:
        label = choices(value).label
    except ValueError:
        return value or "—"
    with translation.override("en"):
        english = str(label)
    with translation.override("zh-hans"):
        chinese = str(label)
    return english if chinese == english else f"{english} / {chinese}"


def _local(moment: datetime | None, zone: Any) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()


def _window(start: datetime | None, end: datetime | None, zone: Any) -> str:
    return f"{_local(start, zone)} – {_local(end, zone)}"


def _person(user: User | None) -> str:
    return "—" if user is None else f"{user.display_name or user.username} (#{user.pk})"


def chain_of_custody_pdf(
    export: Export, clips: list[ExportClip], head: TreeHead | None, created_at: datetime, key_id: str
) -> bytes:
    import zoneinfo

    zone = zoneinfo.ZoneInfo(export.property.timezone)
    access = export.request
    grant = export.grant
    doc = PdfDocument(
        title=f"Chain of custody {access.number}",
        document_id=f"{export.property.code}/{access.number}/export-{export.pk}",
        generated_at=created_at,
        subject=export.property.name,
        language="en",
    )
    doc.add_title(both("title"), subtitle=f"{both('package')} {export.pk}")

    doc.add_heading(both("request"))
    doc.add_key_values(
        [
            (both("number"), access.number),
            (both("type"), both_choice(RequestType, access.request_type)),
            (both("purpose"), f"{access.purpose} · {both_choice(Purpose, access.purpose)}"),
            (both("legal_basis"), both_choice(LegalBasis, access.legal_basis)),
            (both("requester"), _person(access.requester)),
            (both("submitted"), _local(access.submitted_at, zone)),
            (both("decided"), _local(access.decided_at, zone)),
        ]
    )

    doc.add_heading(both("approvals"))
    approvals = list(
        Approval.objects.filter(request=access, decision__in=[Decision.APPROVE, Decision.NARROW])
        .select_related("approver")
        .order_by("created_at", "id")
    )
    doc.add_table(
        [both("approver"), both("roles"), both("decision"), both("time")],
        [
            [_person(a.approver), ", ".join(sorted(a.approver_roles)), both_choice(Decision, a.decision),
             _local(a.created_at, zone)]
            for a in approvals
        ],
        col_widths=(3, 3, 2, 3),
    )  # fmt: skip

    doc.add_heading(both("grant"))
    doc.add_key_values(
        [
            (both("grant"), str(grant.pk)),
            (both("holder"), _person(grant.holder)),
            (both("granted_window"), _window(grant.window_start, grant.window_end, zone)),
            (both("valid_until"), _local(grant.valid_until, zone)),
        ]
    )

    doc.add_heading(both("export"))
    doc.add_key_values(
        [
            (both("export"), str(export.pk)),
            (both("created_by"), _person(export.created_by)),
            (both("created_at"), _local(export.created_at, zone)),
            (both("cameras"), ", ".join(c.camera.code for c in clips)),
            (both("requested_window"), _window(export.requested_start, export.requested_end, zone)),
            (both("actual_window"), _window(export.actual_start, export.actual_end, zone)),
            (both("watermark"), both("yes") if export.watermark else both("no")),
        ]
    )

    doc.add_heading(both("files"))
    rows = []
    for clip in clips:
        changes = [both(k) for k, flag in (("redacted", clip.redacted), ("watermarked", clip.watermarked)) if flag]
        rows.append(
            [
                clip.path,
                f"{clip.camera.code}\n{_window(clip.actual_start, clip.actual_end, zone)}",
                str(clip.size),
                clip.sha256,
                ", ".join(changes) or both("none"),
            ]
        )
    doc.add_table(
        [both("file"), both("camera"), both("size"), "SHA-256", both("changes")], rows, col_widths=(3, 4, 2, 5, 2)
    )
    doc.add_paragraph(both("note"), muted=True)

    doc.add_heading(both("signature"))
    head_text = "—" if head is None else f"{head.tree_size} · {head.root_hash} · {head.timestamp}"
    doc.add_key_values([(both("key"), key_id), (both("tree_head"), head_text)])

    doc.add_heading(both("log"))
    entries = list(
        AuditEntry.objects.filter(property=export.property, request_ref=access.number)
        .select_related("actor")
        .order_by("seq")[: LOG_ROWS + 1]
    )
    log_rows = []
    for entry in entries[:LOG_ROWS]:
        try:
            what = both_choice(Action, entry.action)
        except ValueError:
            what = entry.action
        log_rows.append(
            [str(entry.seq), _local(entry.at, zone), f"{_person(entry.actor)}\n{entry.actor_role}", what,
             both_choice(Outcome, entry.outcome)]
        )  # fmt: skip
    doc.add_table(["#", both("time"), both("who"), both("what"), both("outcome")], log_rows, col_widths=(1, 3, 4, 5, 2))
    if len(entries) > LOG_ROWS:
        doc.add_paragraph(both("log_cut"), muted=True)
    return doc.render()


# --- the zip ------------------------------------------------------------------------------------------------------


class HashingWriter(io.RawIOBase):
    """A write-only, non-seekable file that hashes and counts what passes through it.

    zipfile then writes every member with a data descriptor in one forward pass, so the package's SHA-256 is known
    the moment the last byte is written, without reading the file back."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.handle.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("not seekable")

    def flush(self) -> None:
        self.handle.flush()


class ClipChanged(Exception):
    """A clip's work file no longer has the hash recorded when it was cut."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class WrittenPackage:
    path: Path
    size: int
    sha256: str


def _zip_info(name: str, when: datetime, compress: int) -> zipfile.ZipInfo:
    stamp = when.astimezone(UTC)
    info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute,
                                            stamp.second))  # fmt: skip
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def write_zip(
    target: Path,
    *,
    when: datetime,
    first: list[MemberFile],
    clips: Iterable[tuple[ExportClip, Path]],
    last: list[MemberFile],
    attempt: int,
    before_replace: Callable[[], object] | None = None,
    tick: Callable[[], object] | None = None,
) -> WrittenPackage:
    """Write the package to ``target`` (via ``target.part-<attempt>``, fsynced, then renamed). Clip files are hashed
    again as they are copied; one that changed since it was cut raises ClipChanged and nothing is left behind.
    ``before_replace`` runs once the part file is complete and before it is renamed: whatever it raises leaves the
    target untouched (and the part file removed)."""
    part = part_path(target, attempt)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with part.open("wb") as raw:
            writer = HashingWriter(raw)
            with zipfile.ZipFile(writer, "w", allowZip64=True) as archive:
                for member in first:
                    archive.writestr(_zip_info(member.path, when, zipfile.ZIP_DEFLATED), member.data)
                for clip, path in clips:
                    digest = hashlib.sha256()
                    info = _zip_info(clip.path, when, zipfile.ZIP_STORED)  # video does not compress
                    big = (clip.size or 0) >= ZIP64_FROM
                    with path.open("rb") as source, archive.open(info, "w", force_zip64=big) as out:
                        while chunk := source.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            if tick is not None:
                                tick()
                    if digest.hexdigest() != clip.sha256:
                        raise ClipChanged(clip.path)
                for member in last:
                    archive.writestr(_zip_info(member.path, when, zipfile.ZIP_DEFLATED), member.data)
            raw.flush()
            os.fsync(raw.fileno())
        if before_replace is not None:
            before_replace()
        part.replace(target)
        _fsync_dir(target.parent)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return WrittenPackage(target, writer.size, writer.digest.hexdigest())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_work(export: Export) -> None:
    shutil.rmtree(work_dir(export), ignore_errors=True)


def part_path(target: Path, attempt: int) -> Path:
    return target.with_name(f"{target.name}.part-{attempt}")


def remove_partial(export: Export, *, attempt: int) -> None:
    """Work files and the half-written zip of this attempt of the export (never a finished package)."""
    remove_work(export)
    if export.package_name:
        part_path(package_path(export), attempt).unlink(missing_ok=True)


def public_key_member() -> MemberFile:
    return MemberFile(PUBLIC_KEY, keys.public_key_pem().encode("ascii"))


def signature_member(signature: str) -> MemberFile:
    return MemberFile(SIGNATURE, (signature + "\n").encode("ascii"))


def decode_signature(data: bytes) -> bytes:
    return base64.b64decode(data.strip(), validate=True)


def now() -> datetime:
    return timezone.now()
