"""The backup register: record and change entries (one audited action each) and its CSV export.

The CSV is UTF-8 with a byte-order mark so that spreadsheet programs (Excel) read Chinese text right. A cell that
starts with = + - @ (or a tab or carriage return) is prefixed with ' so a spreadsheet never runs it as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.audit import gate
from custody.audit.events import Action
from custody.retention.forms import BackupForm
from custody.retention.models import BackupRecord

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@transaction.atomic
def record_backup(form: BackupForm, *, acting_user: Any) -> BackupRecord:
    """Save a valid BackupForm as a new register entry."""
    entry: BackupRecord = form.save(commit=False)
    entry.property = form.prop
    entry.recorded_by = acting_user
    entry.recorded_at = timezone.now()
    entry.save()
    form.save_m2m()
    gate.record(Action.BACKUP_RECORDED, actor=acting_user, prop=form.prop, obj=entry, details=_details(entry))
    return entry


@transaction.atomic
def update_backup(form: BackupForm, *, acting_user: Any) -> BackupRecord:
    """Save changes to an entry (typically the day the copy was destroyed)."""
    changed = sorted(form.changed_data)
    entry: BackupRecord = form.save()
    gate.record(
        Action.BACKUP_UPDATED, actor=acting_user, prop=form.prop, obj=entry,
        details={**_details(entry), "changed": changed},
    )  # fmt: skip
    return entry


def _details(entry: BackupRecord) -> dict[str, Any]:
    return {
        "backup": entry.pk, "content": entry.content, "medium": entry.medium,
        "export": str(entry.export_id) if entry.export_id else None,
        "cameras": sorted(entry.cameras.values_list("code", flat=True)),
        "destroyed": entry.destroyed_on is not None,
    }  # fmt: skip


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _moment(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def csv_header() -> list[str]:
    return [
        _("Date"), _("Content"), _("Description"), _("Cameras"), _("Footage from"), _("Footage until"),
        _("Duration (h:mm:ss)"), _("Medium"), _("Location"), _("SHA-256"), _("Made by (username)"),
        _("Recorded at"), _("Kept until"), _("Destroyed on"),
    ]  # fmt: skip


def register_csv(rows: Iterable[BackupRecord]) -> bytes:
    """The register as CSV bytes: UTF-8 with BOM, one row per entry, formula-like cells escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_header())
    for entry in rows:
        writer.writerow(
            safe_cell(value)
            for value in [
                entry.made_on.isoformat(), entry.get_content_display(), entry.description,
                " ".join(c.code for c in entry.cameras.all()), _moment(entry.window_start), _moment(entry.window_end),
                duration_text(entry.duration_seconds), entry.get_medium_display(), entry.location, entry.sha256,
                entry.made_by.username, _moment(entry.recorded_at),
                entry.keep_until.isoformat() if entry.keep_until else "",
                entry.destroyed_on.isoformat() if entry.destroyed_on else "",
            ]
        )  # fmt: skip
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
