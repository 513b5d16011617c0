"""Single-use, expiring, user-bound download links for evidence packages.

The token is ``secrets.token_urlsafe(32)``; only its SHA-256 is stored, so a copy of the database cannot be turned
into a working link. It is shown once, to the person who created it, and only that person can use it, once, before
it expires (``CUSTODY_EVIDENCE_LINK_HOURS``, default 24). A package is footage: only the export's creator, while
still holding a usable grant (not revoked, not expired), may create a link or download through one; a reviewer sees
an export's metadata and hashes, never its package. Using it marks it used with a conditional UPDATE
(``... WHERE used_at IS NULL``) before a byte is sent, so two requests racing for one link get one download.
Every creation, download and refusal is in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.evidence import exporting, package
from custody.evidence.models import DownloadLink, Export, ExportStatus
from custody.properties.models import Property


class LinkRefused(Exception):
    """``code``: unknown, other_user, used, expired, not_ready, missing_file, or the grant's refusal
    (not_the_creator, not_the_holder, revoked, expired, wrong_kind)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_hours() -> int:
    return int(getattr(settings, "CUSTODY_EVIDENCE_LINK_HOURS", 24))


def create_link(export: Export, *, acting_user: User) -> tuple[DownloadLink, str]:
    """A new link for a finished export, bound to ``acting_user``; returns it and the token (never stored)."""
    if export.status != ExportStatus.DONE:
        raise LinkRefused("not_ready")
    refusal = exporting.grant_refusal(export, acting_user)
    if refusal:  # recorded before any transaction opens, so the denied entry is committed
        gate.record_denied(
            Action.EVIDENCE_LINK_CREATED, actor=acting_user, prop=export.property, object_type="evidence.export",
            object_id=str(export.pk), request_ref=export.request.number, grant_ref=str(export.grant_id),
            details={"reason": refusal},
        )  # fmt: skip
        raise LinkRefused(refusal)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = DownloadLink.objects.create(
            export=export,
            user=acting_user,
            token_hash=token_hash(token),
            expires_at=timezone.now() + timedelta(hours=link_hours()),
        )
        gate.record(
            Action.EVIDENCE_LINK_CREATED,
            actor=acting_user,
            prop=export.property,
            obj=export,
            request_ref=export.request.number,
            grant_ref=str(export.grant_id),
            details={"link": str(link.pk), "hours": link_hours()},
        )
    return link, token


@dataclass
class Download:
    link: DownloadLink
    export: Export
    handle: IO[bytes]


def _refuse(prop: Property, user: User, code: str, link: DownloadLink | None) -> LinkRefused:
    export = link.export if link is not None else None
    gate.record_denied(
        Action.EVIDENCE_DOWNLOADED,
        actor=user,
        prop=prop,
        object_type="evidence.export",
        object_id=str(export.pk) if export else "",
        request_ref=export.request.number if export else "",
        grant_ref=str(export.grant_id) if export else "",
        details={"reason": code, **({"link": str(link.pk)} if link else {})},
    )
    return LinkRefused(code)


def open_link(token: str, *, user: User, prop: Property) -> Download:
    """Use the link: checked, marked used and audited in one transaction, with the package file already open.
    LinkRefused (after a committed denied entry) when it is unknown, someone else's, used or expired."""
    link = (
        DownloadLink.objects.select_related("export__request", "export__property")
        .filter(token_hash=token_hash(token), export__property=prop)
        .first()
    )
    if link is None:
        raise _refuse(prop, user, "unknown", None)
    if link.user_id != user.pk:
        raise _refuse(prop, user, "other_user", link)
    now = timezone.now()
    if link.used_at is not None:
        raise _refuse(prop, user, "used", link)
    if link.expires_at <= now:
        raise _refuse(prop, user, "expired", link)
    export = link.export
    if export.status != ExportStatus.DONE:
        raise _refuse(prop, user, "not_ready", link)
    refusal = exporting.grant_refusal(export, user)
    if refusal:
        raise _refuse(prop, user, refusal, link)
    try:
        handle = package.package_path(export).open("rb")
    except OSError:
        raise _refuse(prop, user, "missing_file", link) from None
    try:
        with transaction.atomic():
            taken = DownloadLink.objects.filter(pk=link.pk, user=user, used_at__isnull=True, expires_at__gt=now).update(
                used_at=now
            )
            if taken:
                gate.record(
                    Action.EVIDENCE_DOWNLOADED,
                    actor=user,
                    prop=prop,
                    obj=export,
                    request_ref=export.request.number,
                    grant_ref=str(export.grant_id),
                    details={"link": str(link.pk), "bytes": export.package_size, "sha256": export.package_sha256},
                )
    except BaseException:
        handle.close()
        raise
    if not taken:  # another request used it between the read and the update
        handle.close()
        raise _refuse(prop, user, "used", link)
    link.used_at = now
    return Download(link, export, handle)
