"""Playback within a grant: the timeline of the granted cameras and window, starting a playback (one grant use),
the stream (an on-the-fly stream-copy MP4 with HTTP range requests) and the player's "watched" reports.

Only the grant's holder plays. Every stream and report request re-checks the grant (revocation and expiry take
effect at once) without counting another use; every refusal commits a denied audit entry. See playback.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from typing import Any

from django import forms
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from custody import authority
from custody.access import AuthedRequest
from custody.audit import gate
from custody.audit.events import Action
from custody.authority import ReadAuthority
from custody.footage import playback, remux
from custody.footage.models import Camera
from custody.properties.models import Property
from custody.requests import grants, reading
from custody.requests.grant_views import REFUSALS
from custody.requests.models import Grant
from custody.requests.reading import grant_state
from custody.requests.views import FILE, requests_view

WAIT_FIRST_BYTES = 30.0
WAIT_COMPLETE = 120.0
WATCHED_BODY_MAX = 16 * 1024  # a report holds at most 50 ranges of two ISO times: far less
RETRY_AFTER = "5"
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
TICKS_MAX = 400

PLAYBACK_REFUSALS = {
    "not_your_session": gettext_lazy("This playback was started by someone else."),
    "not_this_grant": gettext_lazy("This playback does not belong to this grant."),
    "bad_session": gettext_lazy("This playback link is not valid."),
    "session_expired": gettext_lazy("This playback has expired; start it again from the timeline."),
    "camera_out_of_scope": gettext_lazy("This camera is not part of the grant."),
    "window_out_of_scope": gettext_lazy("This time is outside the granted window."),
}


def _refusal(code: str) -> str:
    return str(PLAYBACK_REFUSALS.get(code) or REFUSALS.get(code) or code)


def _holders_grant(request: AuthedRequest, prop: Property, grant_pk: uuid.UUID) -> Grant:
    """The footage grant, for its holder: another property's or a missing grant is a 404, someone else's a 404
    or (for a reviewer, who may see it but not play it) a 403; each logged."""
    grant = reading.get_grant_for_user(prop, request.user, grant_pk)
    if not grant.request.is_footage:
        gate.record_denied(
            Action.ACCESS_DENIED,
            actor=request.user,
            prop=prop,
            object_type="requests.grant",
            object_id=str(grant.pk),
            details={"reason": "not_footage"},
        )
        raise Http404("No such footage grant.")
    if grant.holder_id != request.user.pk:
        playback.deny(request.user, prop, "not_the_holder", grant=grant)
        raise _Forbidden(_refusal("not_the_holder"))
    return grant


class _Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _forbidden(message: str) -> HttpResponse:
    return HttpResponse(message, status=403, content_type="text/plain; charset=utf-8")


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _busy() -> HttpResponse:
    response = _text(_("Too many clips are being prepared right now; try again in a few seconds."), 503)
    response["Retry-After"] = RETRY_AFTER
    return response


# --- the timeline page --------------------------------------------------------------------------------------------


class StartForm(forms.Form):
    camera = forms.IntegerField(label=gettext_lazy("Camera"), min_value=1, max_value=2**63 - 1)
    start = forms.DateTimeField(label=gettext_lazy("From"), required=False)
    end = forms.DateTimeField(label=gettext_lazy("Until"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", _("The end must be after the start."))
        return data


def _bar(camera: Camera, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """A camera's recordings in the window as an SVG bar 1000 units wide: runs of contiguous segments, the
    boundaries between segments (when there are not too many to draw) and the gaps."""
    total = (end - start).total_seconds()
    segments = remux.live_segments(camera, start, end)

    def x(at: dt.datetime) -> float:
        return round(max(0.0, min(1000.0, (at - start).total_seconds() / total * 1000)), 2)

    runs: list[list[dt.datetime]] = []
    for segment in segments:
        if runs and (segment.start - runs[-1][1]).total_seconds() <= 2:
            runs[-1][1] = max(runs[-1][1], segment.end)
        else:
            runs.append([segment.start, segment.end])
    gap_list = []
    previous = start
    for run_start, run_end in runs:
        if (run_start - previous).total_seconds() > 2:
            gap_list.append({"x": x(previous), "w": round(x(run_start) - x(previous), 2), "start": previous,
                             "end": run_start})  # fmt: skip
        previous = max(previous, run_end)
    if (end - previous).total_seconds() > 2:
        gap_list.append({"x": x(previous), "w": round(1000 - x(previous), 2), "start": previous, "end": end})
    return {
        "camera": camera,
        "count": len(segments),
        "runs": [{"x": x(a), "w": max(0.5, round(x(b) - x(a), 2)), "start": a, "end": b} for a, b in runs],
        "ticks": [x(s.start) for s in segments if s.start > start] if len(segments) <= TICKS_MAX else [],
        "gaps": gap_list,
        "masks": [" ".join(f"{p[0]},{p[1]}" for p in polygon) for polygon in camera.privacy_masks or []],
    }


def _page(
    request: AuthedRequest,
    prop: Property,
    grant: Grant,
    *,
    form: StartForm | None = None,
    session: playback.Session | None = None,
    token: str = "",
    message: str = "",
    status: int = 200,
) -> HttpResponse:
    assert grant.window_start is not None and grant.window_end is not None
    cameras = list(grant.cameras.filter(property=prop).order_by("code"))
    bars = [_bar(camera, grant.window_start, grant.window_end) for camera in cameras]
    player: dict[str, Any] | None = None
    if session is not None:
        camera = next(c for c in cameras if c.pk == session.camera_id)
        clip_start = None
        try:
            reader = authority.for_playback(token, actor=request.user, prop=prop)
            clip_start = playback.clip_start(playback.builder_for(session, authority=reader))
        except remux.RemuxError:
            message = message or _("There is no recording in this window.")
        except playback.BuildersBusy:
            pass  # the player's stream request starts the build (and retries while too many are running)
        player = {
            "camera": camera,
            "session": session,
            "bar": _bar(camera, session.start, session.end),
            "clip_start": (clip_start or session.start).isoformat(),
            "stream_url": reverse("playback:stream", kwargs={"code": prop.code, "grant_pk": grant.pk, "token": token}),
            "watched_url": reverse(
                "playback:watched", kwargs={"code": prop.code, "grant_pk": grant.pk, "token": token}
            ),
            "masks": [" ".join(f"{p[0]},{p[1]}" for p in polygon) for polygon in camera.privacy_masks or []],
            "masked": bool(camera.privacy_masks),
        }
    state = grant_state(grant)
    context = {
        "grant": grant,
        "access": grant.request,
        "state": state,
        "usable": state[0] == "active",
        "bars": bars,
        "player": player,
        "form": form or StartForm(),
        "message": message,
        "viewer": request.user.display_name or request.user.get_full_name() or request.user.get_username(),
    }
    return render(request, "footage/play.html", context, status=status)


@require_safe
@never_cache
@requests_view(FILE)
def timeline(request: AuthedRequest, prop: Property, grant_pk: uuid.UUID) -> HttpResponse:
    """The granted cameras and window, with segment boundaries and gaps; with ?session=, the player."""
    try:
        grant = _holders_grant(request, prop, grant_pk)
    except _Forbidden as exc:
        return _forbidden(exc.message)
    session = None
    token = request.GET.get("session", "")
    if token:
        try:
            session = playback.read_token(token)
            playback.check_session(session, actor=request.user, prop=prop, grant_pk=grant.pk)
        except playback.PlaybackRefused as exc:
            if exc.code in ("bad_session", "session_expired"):
                playback.deny(request.user, prop, exc.code, grant=grant)
            return _page(request, prop, grant, message=_refusal(exc.code), status=403)
    gate.record(
        Action.FOOTAGE_TIMELINE_VIEWED,
        actor=request.user,
        prop=prop,
        obj=grant,
        request_ref=grant.request.number,
        grant_ref=grant.ref,
        purpose="grant.footage_view",
        details={"cameras": grant.cameras.count(), "player": session is not None},
    )
    return _page(request, prop, grant, session=session, token=token)


@require_POST
@never_cache
@requests_view(FILE)
def start(request: AuthedRequest, prop: Property, grant_pk: uuid.UUID) -> HttpResponseBase:
    """Start playing one granted camera over the granted window or a part of it: one grant use, audited."""
    try:
        grant = _holders_grant(request, prop, grant_pk)
    except _Forbidden as exc:
        return _forbidden(exc.message)
    assert grant.window_start is not None and grant.window_end is not None
    form = StartForm(request.POST)
    if not form.is_valid():
        return _page(request, prop, grant, form=form, status=400)
    camera = Camera.objects.filter(pk=form.cleaned_data["camera"], property=prop).first()
    if camera is None:
        playback.deny(request.user, prop, "no_such_camera", grant=grant)
        return HttpResponse(_("There is no such camera at this property."), status=404, content_type="text/plain")
    window_start = form.cleaned_data["start"] or grant.window_start
    window_end = form.cleaned_data["end"] or grant.window_end
    in_scope = grant.cameras.filter(pk=camera.pk).exists() and (
        grant.window_start <= window_start < window_end <= grant.window_end
    )
    if in_scope and not remux.live_segments(camera, window_start, window_end):
        message = _("There is no recording of this camera in this window; no use was counted.")
        return _page(request, prop, grant, form=form, message=message, status=409)
    try:
        session = playback.start_session(
            grant, actor=request.user, prop=prop, camera=camera, start=window_start, end=window_end
        )
    except grants.GrantRefused as exc:
        grant.refresh_from_db()
        return _page(request, prop, grant, form=form, message=_refusal(exc.code), status=403)
    url = reverse("playback:timeline", kwargs={"code": prop.code, "grant_pk": grant.pk})
    return redirect(f"{url}?session={session.token()}#player")


# --- the stream ---------------------------------------------------------------------------------------------------


def _session_for(
    request: AuthedRequest, prop: Property, grant_pk: uuid.UUID, token: str
) -> tuple[playback.Session, Grant, Camera, ReadAuthority]:
    """The session of a stream or report request, checked (PlaybackRefused after a denied entry), with the read
    gate's authority over its footage."""
    grant = reading.get_grant_for_user(prop, request.user, grant_pk)  # hidden (404, logged) unless holder/reviewer
    try:
        session = playback.read_token(token)
    except playback.PlaybackRefused as exc:
        playback.deny(request.user, prop, exc.code, grant=grant)
        raise
    grant, camera = playback.check_session(session, actor=request.user, prop=prop, grant_pk=grant_pk)
    return session, grant, camera, authority.for_playback(token, actor=request.user, prop=prop)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) of a single byte range; None when absent or malformed (ignored, RFC 9110); "416" when it
    cannot be satisfied."""
    match = RANGE.match(header.strip()) if header else None
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if not first_text:  # suffix: the last n bytes
        n = int(last_text)
        if n == 0:
            return "416"
        return max(0, size - n), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        return "416"
    return first, min(last, size - 1)


def _gone() -> HttpResponse:
    return _text(_("This clip is no longer kept; start the playback again from the timeline."), 410)


def _serve_file(request: AuthedRequest, clip: playback.Clip) -> HttpResponseBase:
    """The complete clip, whole or a range. Opened before answering: a clip purged since is a 410, never a 500
    or a broken body."""
    try:
        opened = clip.final.open("rb")
    except FileNotFoundError:
        return _gone()
    size = os.fstat(opened.fileno()).st_size
    wanted = _parse_range(request.headers.get("Range", ""), size)
    if wanted == "416":
        opened.close()
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = StreamingHttpResponse(playback.file_range(opened, 0, size - 1), content_type="video/mp4")
        response["Content-Length"] = str(size)
    else:
        assert isinstance(wanted, tuple)
        first, last = wanted
        response = StreamingHttpResponse(playback.file_range(opened, first, last), content_type="video/mp4",
                                         status=206)  # fmt: skip
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    return response


@require_safe
@never_cache
@requests_view(FILE)
def stream(request: AuthedRequest, prop: Property, grant_pk: uuid.UUID, token: str) -> HttpResponseBase:
    """The session's clip. While it is being written: 200, streamed as it grows (no length). Once complete:
    ranges (206, Content-Range), 416 past the end. Each request re-checks the grant; none counts a use."""
    try:
        session, _grant, _camera, reader = _session_for(request, prop, grant_pk, token)
    except playback.PlaybackRefused as exc:
        return _forbidden(_refusal(exc.code))
    try:
        clip = playback.builder_for(session, authority=reader)
    except remux.RemuxError:
        return HttpResponse(_("There is no recording in this window."), status=404, content_type="text/plain")
    except playback.BuildersBusy:
        return _busy()
    builder = clip.builder
    if builder is not None:
        range_header = request.headers.get("Range", "").strip()
        if builder.streamable and range_header in ("", "bytes=0-"):
            builder.wait(lambda: builder.written > 0 or builder.done, WAIT_FIRST_BYTES)
            if not builder.done and builder.written > 0:
                try:
                    opened = playback.open_part(builder)
                except FileNotFoundError:
                    pass  # renamed to the final file since (or failed): answered below once done
                else:
                    response = StreamingHttpResponse(playback.tail(builder, opened), content_type="video/mp4")
                    response["X-Content-Type-Options"] = "nosniff"
                    return response
        builder.wait(lambda: builder.done, WAIT_COMPLETE)
        if not builder.done:
            preparing = _text(_("The clip is still being prepared; try again."), 503)
            preparing["Retry-After"] = RETRY_AFTER
            return preparing
        if builder.error:
            message = _("There is no recording in this window.") if builder.error == "no_frames" else builder.error
            return HttpResponse(message, status=404 if builder.error == "no_frames" else 500,
                                content_type="text/plain")  # fmt: skip
    return _serve_file(request, clip)


@require_POST
@never_cache
@requests_view(FILE)
def watched(request: AuthedRequest, prop: Property, grant_pk: uuid.UUID, token: str) -> HttpResponseBase:
    """The player's report of what was watched: {"ranges": [[start ISO, end ISO], ...]}, each inside the
    session's window (400 naming the bad one otherwise). One FOOTAGE_WATCHED entry per range."""
    try:
        session, grant, camera, _reader = _session_for(request, prop, grant_pk, token)
    except playback.PlaybackRefused as exc:
        return JsonResponse({"error": exc.code, "message": _refusal(exc.code)}, status=403)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = WATCHED_BODY_MAX + 1
    if length > WATCHED_BODY_MAX or len(request.body) > WATCHED_BODY_MAX:
        return JsonResponse(
            {"error": "too_large", "field": "ranges", "message": _("The report of watched ranges is too large.")},
            status=400,
        )
    try:
        try:
            if request.content_type == "application/json":
                body = json.loads(request.body or b"{}")
                ranges = body.get("ranges") if isinstance(body, dict) else None
            else:  # a form post: ranges as a JSON list in one field
                ranges = json.loads(request.POST.get("ranges") or "[]")
        except RecursionError as exc:  # nested too deeply to parse: not a report
            raise ValueError("ranges") from exc
        windows = playback.record_watched(session, grant, camera, actor=request.user, prop=prop, ranges=ranges or [])
    except ValueError as exc:
        field = str(exc) or "ranges"
        playback.deny(request.user, prop, "bad_watched_range", grant=grant, camera=camera,
                      start=session.start, end=session.end, action=Action.FOOTAGE_WATCHED)  # fmt: skip
        return JsonResponse(
            {"error": "bad_range", "field": field, "message": _("Every watched range must lie inside the window.")},
            status=400,
        )
    return JsonResponse({"recorded": len(windows), "at": timezone.now().isoformat()})
