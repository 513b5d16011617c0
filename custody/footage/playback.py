"""In-grant playback: starting a playback session (one grant use), building its stream-copy MP4, serving it.

A playback session is a signed value (django.core.signing, ``SALT``, 30 minutes) naming the user, the property,
the grant, the camera and the window; it travels in the stream and beacon URLs and is bound to the signed-in user.
No model is written: the grant use (``grants.use_grant``) and the audit entries are the record.

The clip is built once per (grant, camera, window, segments) into ``CUSTODY_HOME/cache/playback/<hash>.mp4`` by a
background thread writing a fragmented MP4 (``remux.remux_window(fragmented=True)``) to ``<hash>.part-<random>``,
renamed to ``<hash>.mp4`` when complete (with ``<hash>.json``: the actual bounds and the SHA-256). While it is
being written the stream view tails the growing file; once complete, Range requests are served from it.

A camera with privacy masks is never served as a stream copy: its clip is cut to ``<hash>.copy-<random>``, then
re-encoded with the masks filled black (``custody.evidence.watermark.reencode``) to the ``.part`` file, and only that
is renamed to ``<hash>.mp4``; such a builder offers nothing to tail (``streamable`` is False), so its first byte
comes once the re-encode is complete. The masks are part of the cache name.

At most ``BUILDERS_MAX`` clips are built at once (``BuildersBusy`` beyond). ``purge_cache`` removes clips whose
``.mp4`` was not used (its mtime, touched on every use) for longer than a session, with their ``.json``, and
leftovers of builds; the ``purge_playback_cache`` task runs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django_tasks import task

from custody import authority as read_gate
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.authority import ReadAuthority
from custody.evidence import watermark
from custody.footage import remux
from custody.footage.models import Camera, Segment
from custody.properties.models import Property
from custody.requests import grants
from custody.requests.models import Grant

log = logging.getLogger(__name__)

SALT = "custody.footage.playback"
SESSION_SECONDS = 30 * 60
CHUNK = 256 * 1024
BUILDERS_MAX = 8


class BuildersBusy(Exception):
    """``BUILDERS_MAX`` clips are being built already; try again shortly."""


class PlaybackRefused(Exception):
    """The session or the grant does not allow this; ``code`` is in the denied audit entry."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Session:
    user_id: int
    property_id: int
    grant_id: str
    camera_id: int
    start: dt.datetime
    end: dt.datetime
    issued: float
    nonce: str = ""  # two sessions of the same window are two sessions

    def token(self) -> str:
        return signing.dumps(
            {
                "u": self.user_id,
                "p": self.property_id,
                "g": self.grant_id,
                "c": self.camera_id,
                "s": self.start.isoformat(),
                "e": self.end.isoformat(),
                "t": round(self.issued, 3),
                "n": self.nonce,
            },
            salt=SALT,
            compress=True,
        )

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.issued + SESSION_SECONDS, tz=dt.UTC)


def read_token(token: str) -> Session:
    """The session a token names; PlaybackRefused("bad_session") when forged, malformed or older than 30 min."""
    try:
        data = signing.loads(token, salt=SALT, max_age=SESSION_SECONDS)
        return Session(
            user_id=int(data["u"]),
            property_id=int(data["p"]),
            grant_id=str(data["g"]),
            camera_id=int(data["c"]),
            start=dt.datetime.fromisoformat(data["s"]),
            end=dt.datetime.fromisoformat(data["e"]),
            issued=float(data["t"]),
            nonce=str(data.get("n", "")),
        )
    except signing.SignatureExpired as exc:
        raise PlaybackRefused("session_expired") from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise PlaybackRefused("bad_session") from exc


def _details(camera: Camera | None, start: dt.datetime | None, end: dt.datetime | None, **more: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": "footage_view"}
    if camera is not None:
        details["camera"] = camera.code
    if start is not None and end is not None:
        details |= {"start": start.isoformat(), "end": end.isoformat()}
    return details | more


def start_session(
    grant: Grant, *, actor: User, prop: Property, camera: Camera, start: dt.datetime, end: dt.datetime
) -> Session:
    """Count one use of the grant for this camera and window (GrantRefused after a committed denied entry
    otherwise), audit FOOTAGE_PLAYED, and return the session. The build of the clip starts at once."""
    with grants.using_grant(
        grant.pk, actor=actor, prop=prop, kind="footage_view", cameras=[camera], start=start, end=end
    ) as used:
        session = Session(actor.pk, prop.pk, str(grant.pk), camera.pk, start, end, time.time(), secrets.token_hex(4))
        gate.record(
            Action.FOOTAGE_PLAYED,
            actor=actor,
            prop=prop,
            obj=camera,
            request_ref=used.request.number,
            grant_ref=used.ref,
            purpose="grant.footage_view",
            details=_details(camera, start, end, uses=used.views_used),
        )
    with contextlib.suppress(BuildersBusy, remux.RemuxError):
        # started now when possible; otherwise the stream request starts it
        builder_for(session, authority=read_gate.for_playback(session.token(), actor=actor, prop=prop))
    return session


def check_session(session: Session, *, actor: User, prop: Property, grant_pk: Any) -> tuple[Grant, Camera]:
    """Every stream or beacon request: the session is this user's, at this property, for this grant, and the grant
    still allows it (revocation and expiry take effect at once). Refusals commit a denied entry and raise."""
    grant = Grant.objects.select_related("request").filter(pk=session.grant_id, property_id=prop.pk).first()
    camera = Camera.objects.filter(pk=session.camera_id, property_id=prop.pk).first()
    code = ""
    if session.user_id != actor.pk:
        code = "not_your_session"
    elif session.property_id != prop.pk or grant is None or camera is None or str(grant_pk) != session.grant_id:
        code = "not_this_grant"
    else:
        code = grants.refusal_code(
            grant,
            actor=actor,
            kind="footage_view",
            cameras=[camera],
            start=session.start,
            end=session.end,
            quota=False,  # the session counted its use when it started
        )
    if code:
        deny(actor, prop, code, grant=grant, camera=camera, start=session.start, end=session.end)
        raise PlaybackRefused(code)
    assert grant is not None and camera is not None
    return grant, camera


def deny(
    actor: User,
    prop: Property,
    code: str,
    *,
    grant: Grant | None = None,
    camera: Camera | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    action: Action = Action.FOOTAGE_PLAYED,
) -> None:
    gate.record_denied(
        action,
        actor=actor,
        prop=prop,
        object_type="requests.grant",
        object_id=str(grant.pk) if grant else "",
        grant_ref=str(grant.pk) if grant else "",
        request_ref=grant.request.number if grant else "",
        details=_details(camera, start, end, reason=code),
    )


def record_watched(
    session: Session, grant: Grant, camera: Camera, *, actor: User, prop: Property, ranges: list[tuple[Any, Any]]
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Audit the windows the player reports as watched; every one must lie inside the session's window
    (ValueError naming the first bad one otherwise, nothing written)."""
    windows: list[tuple[dt.datetime, dt.datetime]] = []
    if not isinstance(ranges, list) or not ranges or len(ranges) > 50:
        raise ValueError("ranges")
    for number, item in enumerate(ranges):
        try:
            start, end = (dt.datetime.fromisoformat(str(v)) for v in item)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ranges[{number}]") from exc
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(f"ranges[{number}]")
        if not (session.start <= start < end <= session.end):
            raise ValueError(f"ranges[{number}]")
        windows.append((start.astimezone(dt.UTC), end.astimezone(dt.UTC)))
    with transaction.atomic():
        for start, end in windows:
            gate.record(
                Action.FOOTAGE_WATCHED,
                actor=actor,
                prop=prop,
                obj=camera,
                request_ref=grant.request.number,
                grant_ref=grant.ref,
                purpose="grant.footage_view",
                details=_details(camera, start, end, ms=int((end - start).total_seconds() * 1000)),
            )
    return windows


# --- the cache and its builders -------------------------------------------------------------------------------------


def cache_dir() -> Path:
    path = Path(settings.CUSTODY_HOME) / "cache" / "playback"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def segments_of(session: Session) -> list[Segment]:
    camera = Camera.objects.get(pk=session.camera_id)
    return remux.live_segments(camera, session.start, session.end)


def masks_of(camera: Camera) -> list[list[list[float]]]:
    """The camera's privacy masks as lists of [x, y] fractions (empty when it has none)."""
    return [[[float(x), float(y)] for x, y in polygon] for polygon in camera.privacy_masks or []]


def cache_name(session: Session, segments: list[Segment], masks: list[list[list[float]]] | None = None) -> str:
    parts = [session.grant_id, str(session.camera_id), session.start.isoformat(), session.end.isoformat()]
    parts += [f"{s.pk}:{s.sha256}" for s in segments]
    if masks:
        parts.append("masks:" + json.dumps(masks, separators=(",", ":")))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


class Builder:
    """One clip being written by a background thread; readers wait on ``changed``."""

    def __init__(
        self,
        name: str,
        segments: list[Segment],
        start: dt.datetime,
        end: dt.datetime,
        masks: list[list[list[float]]] | None = None,
    ) -> None:
        folder = cache_dir()
        self.name = name
        self.final = folder / f"{name}.mp4"
        self.meta = folder / f"{name}.json"
        random = secrets.token_hex(4)
        self.part = folder / f"{name}.part-{random}"
        self.copy = folder / f"{name}.copy-{random}"  # the unmasked stream copy of a masked camera; never served
        self.masks = masks or []
        self.streamable = not self.masks  # only a stream copy without masks may be tailed while written
        self.segments, self.start, self.end = segments, start, end
        self.changed = threading.Condition()
        self.written = 0
        self.done = False
        self.error = ""
        self.actual_start: dt.datetime | None = None
        self.thread = threading.Thread(target=self._run, name=f"playback-{name[:8]}", daemon=True)

    def _run(self) -> None:
        try:
            target = self.copy if self.masks else self.part
            with target.open("wb") as handle:
                out = _Counting(handle, self if self.streamable else None)
                result = remux.remux_window(
                    self.segments,
                    self.start,
                    self.end,
                    out,  # type: ignore[arg-type]
                    fragmented=True,
                    on_start=self._started,
                )
            sha256, size = result.sha256, result.bytes_written
            if self.masks:
                watermark.reencode(self.copy, self.part, masks=self.masks)
                self.copy.unlink()
                sha256, size = _sha256(self.part), self.part.stat().st_size
            meta = {
                "actual_start": result.actual_start.isoformat(),
                "actual_end": result.actual_end.isoformat(),
                "sha256": sha256,
                "bytes": size,
                "masked": bool(self.masks),
            }
            self.meta.write_text(json.dumps(meta))
            self.part.replace(self.final)
            self._finish("")
        except remux.RemuxError as exc:
            self._finish(exc.code)
        except watermark.ReencodeError as exc:
            self._finish(exc.code)
        except Exception as exc:
            log.exception("playback clip %s failed", self.name)
            self._finish(type(exc).__name__)

    def _started(self, actual_start: dt.datetime) -> None:
        with self.changed:
            self.actual_start = actual_start
            self.changed.notify_all()

    def _finish(self, error: str) -> None:
        with contextlib.suppress(OSError):
            self.copy.unlink(missing_ok=True)
        if error:
            with contextlib.suppress(OSError):
                self.part.unlink()
        with self.changed:
            self.error, self.done = error, True
            self.changed.notify_all()
        with _lock:
            _builders.pop(self.name, None)

    def wrote(self, n: int) -> None:
        with self.changed:
            self.written += n
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Counting:
    """The builder's output: counts what reached the file so readers know how far they may read (not for a copy
    that is re-encoded before it is served: readers then wait for the end)."""

    def __init__(self, handle: Any, builder: Builder | None) -> None:
        self._handle, self._builder = handle, builder

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        n: int = self._handle.write(data)
        self._handle.flush()
        if self._builder is not None:
            self._builder.wrote(n)
        return n

    def flush(self) -> None:
        self._handle.flush()


_lock = threading.Lock()
_builders: dict[str, Builder] = {}


@dataclass
class Clip:
    """What a stream request serves: a complete file, or a builder still writing one."""

    final: Path
    meta: Path
    builder: Builder | None

    def info(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.meta.read_text())
            return data
        except (OSError, ValueError):
            return {}


def builder_for(session: Session, *, authority: ReadAuthority) -> Clip:
    """The clip of a session: the cached file when complete, else the builder writing it (started if needed).
    The read gate's ``authority`` (``authority.for_playback``) must cover the session's grant, camera and window
    (ReadRefused after a denied ``footage.played`` entry otherwise). remux.RemuxError("no_frames") when the window
    holds no recording; BuildersBusy when a new build is needed but ``BUILDERS_MAX`` are running."""
    camera = Camera.objects.get(pk=session.camera_id)
    read_gate.require_footage(
        authority,
        Action.FOOTAGE_PLAYED,
        property_id=camera.property_id,
        camera=camera,
        start=session.start,
        end=session.end,
        grant_ref=session.grant_id,
    )
    segments = remux.live_segments(camera, session.start, session.end)
    if not segments:
        raise remux.RemuxError("no_frames", "no recording in the window")
    masks = masks_of(camera)
    name = cache_name(session, segments, masks)
    folder = cache_dir()
    final, meta = folder / f"{name}.mp4", folder / f"{name}.json"
    with _lock:
        if final.exists() and meta.exists():
            with contextlib.suppress(OSError):
                final.touch()  # in use: its last use keeps it (and its .json) from being purged under a viewer
                return Clip(final, meta, None)
        builder = _builders.get(name)
        if builder is None:
            if len(_builders) >= BUILDERS_MAX:
                raise BuildersBusy(name)
            builder = Builder(name, segments, session.start, session.end, masks)
            _builders[name] = builder
            builder.thread.start()
    return Clip(final, meta, builder)


def clip_start(clip: Clip, timeout: float = 2.0) -> dt.datetime | None:
    """The wall-clock time of the clip's first frame (its first keyframe), waiting briefly for a builder."""
    if clip.builder is not None:
        builder = clip.builder
        builder.wait(lambda: builder.actual_start is not None or builder.done, timeout)
        if builder.actual_start is not None:
            return builder.actual_start
    value = clip.info().get("actual_start")
    return dt.datetime.fromisoformat(value) if value else None


def open_part(builder: Builder) -> Any:
    """The file a streamable builder is writing, opened for ``tail``: FileNotFoundError once it was renamed to the
    final file (or removed after a failure). Opened by the view before it answers, so the rename cannot break the
    response."""
    if not builder.streamable:
        raise FileNotFoundError(builder.part)
    return builder.part.open("rb")


def tail(builder: Builder, opened: Any) -> Iterator[bytes]:
    """The bytes of a clip being written (``opened`` by ``open_part``), as they arrive, to the end (or until its
    build fails)."""
    with opened as handle:
        sent = [0]
        while True:
            builder.wait(lambda: builder.written > sent[0] or builder.done, 5.0)
            chunk = handle.read(CHUNK)
            if chunk:
                sent[0] += len(chunk)
                yield chunk
                continue
            if builder.done:
                rest = handle.read()
                if rest:
                    yield rest
                return


def file_range(opened: Any, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a file already opened (so a purge between the answer and the read cannot break it)."""
    with opened as handle:
        handle.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def _age(path: Path, now: float) -> float | None:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None


def purge_cache(now: float | None = None) -> int:
    """Remove cached clips not used for longer than a session (and leftovers of builds); the count removed.
    A clip's age is that of its ``.mp4`` (touched on every use), never its ``.json``: the facts of a clip in use
    stay with it. Files of a clip being built are left alone."""
    now = now if now is not None else time.time()
    folder = Path(settings.CUSTODY_HOME) / "cache" / "playback"
    if not folder.is_dir():
        return 0
    removed = 0
    with _lock:
        busy = set(_builders)
        for path in sorted(folder.iterdir()):
            name = path.name.split(".", 1)[0]
            if name in busy or not path.is_file():
                continue
            if path.suffix == ".json":
                age = _age(folder / f"{name}.mp4", now)
                if age is None:  # a clip's facts without the clip: a leftover, aged by itself
                    age = _age(path, now)
            else:
                age = _age(path, now)
            if age is not None and age > SESSION_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    return removed


@task()
def purge_playback_cache() -> dict[str, int]:
    """Worker job (the lead schedules it in PERIODIC_JOBS, e.g. every 10 minutes): expired playback clips removed."""
    return {"removed": purge_cache()}
