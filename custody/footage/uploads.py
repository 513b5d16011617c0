"""Direct upload of recordings: store each file under $CUSTODY_HOME/footage/uploads/<property>/<camera>/ named by its
UTC start (<YYYYMMDDTHHMMSSZ>.<ext>, never overwritten), then index exactly that file with custody.footage.ingest.

Several files are taken as consecutive recordings: the first starts at the given time, each next one where the last
indexed one ended (its real duration, read by PyAV). A file ingest cannot read is quarantined with its reason and
keeps its one-second slot, so the next file never takes its name. One audit entry (footage.uploaded) counts the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from custody.audit import gate
from custody.audit.events import Action
from custody.footage import ingest
from custody.footage.models import Camera, Segment
from custody.properties.models import Property

UPLOAD_LAYOUT = ingest.Layout.compile("%Y%m%dT%H%M%SZ.*")
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
_EXTENSION = re.compile(r"[a-z0-9]{1,5}")


class Status:
    INDEXED = "indexed"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    ERROR = "error"
    NOT_STORED = "not_stored"
    ALL = (INDEXED, QUARANTINED, DUPLICATE, ERROR, NOT_STORED)


@dataclass
class FileOutcome:
    """What happened to one uploaded file; `message` is shown on the page next to the file's name."""

    name: str
    status: str
    message: str
    start: datetime | None = None
    stored_as: str = ""


def upload_folder(prop: Property, camera: Camera) -> Path:
    return (Path(settings.CUSTODY_HOME) / "footage" / "uploads" / prop.code / camera.code).resolve()


def _extension(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix if _EXTENSION.fullmatch(suffix) else "bin"


def _whole_second_after(moment: datetime) -> datetime:
    """File names hold whole seconds: round up, so a file never starts before the previous one ends."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def _store(upload: UploadedFile, target: Path) -> None:
    """Write the upload to a new file; FileExistsError if the name is taken, and nothing is left on failure."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def store_and_index(
    prop: Property, camera: Camera, start: datetime, files: Iterable[UploadedFile], *, acting_user: Any
) -> list[FileOutcome]:
    folder = upload_folder(prop, camera)
    current = _whole_second_after(start)
    outcomes: list[FileOutcome] = []
    blocked = False
    for upload in files:
        name = upload.name or "?"
        if blocked:
            outcomes.append(
                FileOutcome(name, Status.NOT_STORED, _("Not stored: its start depends on the file before it."))
            )
            continue
        target = folder / f"{current.strftime(NAME_FORMAT)}.{_extension(name)}"
        try:
            _store(upload, target)
        except FileExistsError:
            outcomes.append(
                FileOutcome(
                    name,
                    Status.ERROR,
                    _("Not stored: %(file)s already exists for this camera; nothing is ever overwritten.")
                    % {"file": target.name},
                    current,
                )
            )
            blocked = True
            continue
        except OSError as exc:
            outcomes.append(
                FileOutcome(
                    name,
                    Status.ERROR,
                    _("Not stored: the server could not write it (%(error)s).") % {"error": exc.strerror or exc},
                    current,
                )
            )
            blocked = True
            continue
        result = ingest.ingest([target], prop=prop, layout=UPLOAD_LAYOUT, camera_code=camera.code, tz=ZoneInfo("UTC"))
        outcome = FileOutcome(name, Status.INDEXED, "", current, str(target))
        if result.indexed:
            segment = Segment.objects.get(path=str(target))
            outcome.message = _("Indexed: %(seconds)s s of %(codec)s video.") % {
                "seconds": f"{segment.duration:.1f}",
                "codec": segment.codec,
            }
            current = _whole_second_after(segment.end)
        elif result.quarantine:
            quarantined = result.quarantine[0]
            outcome.status = Status.QUARANTINED
            outcome.message = _("Quarantined: %(reason)s (%(details)s).") % {
                "reason": quarantined.get_reason_code_display(),
                "details": quarantined.reason,
            }
            current += timedelta(seconds=1)
        else:
            # The same bytes are already indexed for this camera: keep no second copy.
            target.unlink(missing_ok=True)
            outcome.status, outcome.stored_as = Status.DUPLICATE, ""
            outcome.message = _("Not kept: the same recording is already indexed for this camera.")
        outcomes.append(outcome)

    counts = {status: sum(1 for o in outcomes if o.status == status) for status in Status.ALL}
    with transaction.atomic():
        gate.record(
            Action.FOOTAGE_UPLOADED,
            actor=acting_user,
            prop=prop,
            obj=camera,
            details={"camera": camera.code, "files": len(outcomes), **counts},
        )
    return outcomes
