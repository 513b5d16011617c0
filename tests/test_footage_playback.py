"""In-grant playback: one counted, audited use per playback; the stream is exactly the window (decoded and
checked), serves ranges once complete; anything outside the grant is refused and logged; watched windows audited."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import av
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.footage import playback
from custody.footage.ingest import FRIGATE_PATTERN, Layout, ingest
from custody.footage.models import Camera, Segment
from custody.properties.models import Property
from custody.requests import actions, grants
from custody.requests.models import Grant
from tests.conftest import PASSWORD, Hotel, make_user, signed_in_client
from tests.test_browser import OUTPUT, page  # noqa: F401  (fixture)
from tests.test_footage_ingest import frigate_path, make_segment
from tests.test_requests_core import People, footage_data

SECOND = dt.timedelta(seconds=1)
SCREENSHOT = OUTPUT / "playback.png"  # copied to docs/img/playback.png


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CUSTODY_HOME = tmp_path / "home"


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


class Footage:
    def __init__(self, grant: Grant, w0: dt.datetime, hotel: Hotel, people: People) -> None:
        self.grant, self.w0, self.hotel, self.people = grant, w0, hotel, people
        self.start, self.end = w0, w0 + 60 * SECOND
        self.client = signed_in_client(people.officer)

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"playback:{name}", kwargs={"code": self.hotel.prop.code, "grant_pk": self.grant.pk, **kwargs})

    def start_playback(self, client: Client | None = None, **data: Any) -> Any:
        data.setdefault("camera", self.hotel.camera.pk)
        return (client or self.client).post(self.url("start"), data)

    def token(self, response: Any) -> str:
        assert response.status_code == 302, response.content[:300]
        return str(response["Location"].split("session=")[1].split("#")[0])


def make_grant(hotel: Hotel, people: People, w0: dt.datetime) -> Grant:
    data = footage_data(hotel, window_start=w0, window_end=w0 + 60 * SECOND)
    request = actions.create_request(hotel.prop, data, acting_user=people.officer)
    request = actions.submit_request(request, acting_user=people.officer)
    actions.approve_request(request, acting_user=people.manager)
    return Grant.objects.get(request=request)


@pytest.fixture
def footage(hotel: Hotel, people: People, tmp_path: Path) -> Footage:
    """CAM-1 recorded in 10 s segments from 10 s before the window to its end, with a gap 30..40 s into it."""
    w0 = (timezone.now() - dt.timedelta(hours=2)).replace(second=0, microsecond=0).astimezone(dt.UTC)
    root = tmp_path / "nvr"
    for n, offset in enumerate([-10, 0, 10, 20, 40, 50]):
        make_segment(frigate_path(root, "CAM-1", w0 + offset * SECOND), seconds=10, seed=n)
    ingest([root], prop=hotel.prop, layout=Layout.compile(FRIGATE_PATTERN))
    return Footage(make_grant(hotel, people, w0), w0, hotel, people)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


def frame_walls(data: bytes, clip_start: dt.datetime) -> list[dt.datetime]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sorted(
            clip_start + dt.timedelta(seconds=float(f.pts * stream.time_base)) for f in container.decode(stream)
        )


def denied(action: Action, reason: str) -> int:
    return sum(
        1
        for entry in AuditEntry.objects.filter(action=action, outcome=Outcome.DENIED)
        if (entry.details or {}).get("reason") == reason
    )


def clip_of(token: str) -> playback.Clip:
    """The session's clip, on the read gate's authority for the session's holder (as the stream view gets it)."""
    session = playback.read_token(token)
    holder, prop = User.objects.get(pk=session.user_id), Property.objects.get(pk=session.property_id)
    return playback.builder_for(session, authority=authority.for_playback(token, actor=holder, prop=prop))


def wait_complete(token: str) -> playback.Clip:
    clip = clip_of(token)
    if clip.builder is not None:
        assert clip.builder.wait(lambda: clip.builder.done, 60)  # type: ignore[union-attr]
        clip = clip_of(token)
    assert clip.builder is None and clip.final.exists()
    return clip


def test_timeline_shows_the_granted_cameras_segments_and_gaps(footage: Footage) -> None:
    response = footage.client.get(footage.url("timeline"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "CAM-1" in html and "6 segments" not in html  # the one before the window is not in it
    assert "5 segments" in html and "1 gap" in html
    assert html.count('class="pb-gap"') == 1 and html.count('class="pb-tick"') == 4
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_TIMELINE_VIEWED, grant_ref=str(footage.grant.pk)).exists()
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 0  # looking at the timeline is not a use


def test_playback_counts_one_use_is_audited_and_streams_exactly_the_window(footage: Footage) -> None:
    start = footage.start + 5 * SECOND  # inside a segment: the clip starts at the next keyframe
    response = footage.start_playback(start=start.isoformat(), end=(footage.end - 5 * SECOND).isoformat())
    token = footage.token(response)
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 1
    played = AuditEntry.objects.get(action=Action.FOOTAGE_PLAYED, outcome=Outcome.ALLOWED)
    assert played.grant_ref == str(footage.grant.pk) and played.request_ref == footage.grant.request.number
    assert played.details["camera"] == "CAM-1" and played.details["start"] == start.isoformat()
    assert AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.ALLOWED).count() == 1

    shown = footage.client.get(response["Location"])
    assert shown.status_code == 200
    html = shown.content.decode()
    assert 'data-stream-url="' + footage.url("stream", token=token) in html
    assert "officer" in html and footage.grant.request.number in html  # the overlay: viewer and request

    streamed = footage.client.get(footage.url("stream", token=token))
    assert streamed.status_code in (200, 206)
    data = body(streamed)
    clip = wait_complete(token)
    info = clip.info()
    clip_start = dt.datetime.fromisoformat(info["actual_start"])
    assert start <= clip_start < start + 10 * SECOND
    walls = frame_walls(data, clip_start)
    assert len(walls) > 100
    assert all(start <= w < footage.end - 5 * SECOND for w in walls)
    assert info["sha256"] and clip.final.read_bytes() == data
    # Further stream requests re-check the grant but count no use.
    assert footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-99").status_code == 206
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 1


def test_ranges_once_complete_and_416_past_the_end(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    data = wait_complete(token).final.read_bytes()
    size = len(data)
    part = footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-1099/{size}" and part["Accept-Ranges"] == "bytes"
    assert body(part) == data[100:1100] and part["Content-Length"] == "1000"
    tail = footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and body(tail) == data[-500:]
    whole = footage.client.get(footage.url("stream", token=token))
    assert whole.status_code == 200 and whole["Content-Length"] == str(size) and body(whole) == data
    past = footage.client.get(footage.url("stream", token=token), HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{size}"


def test_first_bytes_come_while_the_clip_is_still_being_written(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    session = playback.read_token(token)
    # A fresh build (the start already began one: wait for it, then drop the cache to build again).
    wait_complete(token)
    for path in playback.cache_dir().iterdir():
        path.unlink()
    began = time.monotonic()
    response = footage.client.get(footage.url("stream", token=token))
    first = next(iter(response.streaming_content))
    assert time.monotonic() - began < 5 and first[4:8] == b"ftyp"
    assert response.status_code == 200 and not response.has_header("Content-Length")
    rest = b"".join(response.streaming_content)
    clip = wait_complete(token)
    assert first + rest == clip.final.read_bytes()
    assert playback.cache_name(session, playback.segments_of(session)) == clip.final.stem


def test_one_second_outside_the_window_is_refused_and_logged(footage: Footage) -> None:
    before = footage.start_playback(start=(footage.start - SECOND).isoformat(), end=footage.end.isoformat())
    assert before.status_code == 403
    after = footage.start_playback(start=footage.start.isoformat(), end=(footage.end + SECOND).isoformat())
    assert after.status_code == 403
    assert denied(Action.GRANT_USED, "window_out_of_scope") == 2
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 0
    assert not AuditEntry.objects.filter(action=Action.FOOTAGE_PLAYED, outcome=Outcome.ALLOWED).exists()


def test_a_forged_window_in_the_session_is_refused(footage: Footage) -> None:
    """A session naming a window outside the grant (never issued by start) is refused on the stream too."""
    wide = playback.Session(
        footage.people.officer.pk, footage.hotel.prop.pk, str(footage.grant.pk), footage.hotel.camera.pk,
        footage.start - SECOND, footage.end, time.time(),
    )  # fmt: skip
    response = footage.client.get(footage.url("stream", token=wide.token()))
    assert response.status_code == 403 and denied(Action.FOOTAGE_PLAYED, "window_out_of_scope") == 1
    garbage = footage.client.get(footage.url("stream", token="not-a-token"))
    assert garbage.status_code == 403 and denied(Action.FOOTAGE_PLAYED, "bad_session") == 1


def test_other_camera_and_other_property_camera_are_refused(footage: Footage, other_hotel: Hotel) -> None:
    other = Camera.objects.create(property=footage.hotel.prop, area=footage.hotel.lobby, code="CAM-9", name="Bar")
    assert footage.start_playback(camera=other.pk).status_code == 403
    assert denied(Action.GRANT_USED, "camera_out_of_scope") == 1
    assert footage.start_playback(camera=other_hotel.camera.pk).status_code == 404
    assert denied(Action.FOOTAGE_PLAYED, "no_such_camera") == 1
    assert footage.start_playback(camera="x").status_code == 400
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 0


def test_a_revoked_grant_is_refused_on_the_next_stream_request(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    wait_complete(token)
    assert footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-10").status_code == 206
    actions.revoke_grant(footage.grant, "Case closed", acting_user=footage.people.manager)
    refused = footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-10")
    assert refused.status_code == 403
    assert denied(Action.FOOTAGE_PLAYED, "revoked") == 1
    report = footage.client.post(
        footage.url("watched", token=token), json.dumps({"ranges": [[footage.start.isoformat(),
        (footage.start + SECOND).isoformat()]]}), content_type="application/json",
    )  # fmt: skip
    assert report.status_code == 403


def test_another_user_cannot_use_the_grant_or_the_session(footage: Footage, hotel: Hotel) -> None:
    token = footage.token(footage.start_playback())
    reviewer = make_user("reviewer", hotel.prop, Role.SECURITY_MANAGER, totp_device=True)
    manager = signed_in_client(reviewer)  # a reviewer: may see the grant, never play it
    assert manager.get(footage.url("timeline")).status_code == 403
    assert manager.get(footage.url("stream", token=token)).status_code == 403
    assert footage.start_playback(client=manager).status_code == 403
    assert denied(Action.FOOTAGE_PLAYED, "not_the_holder") == 2
    assert denied(Action.FOOTAGE_PLAYED, "not_your_session") == 1
    desk = signed_in_client(footage.people.desk)  # a filer, not the holder and no reviewer: the grant is hidden
    assert desk.get(footage.url("stream", token=token)).status_code == 404
    assert desk.get(footage.url("timeline")).status_code == 404
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 1


def test_a_session_of_another_user_is_refused_even_for_their_own_grant(footage: Footage) -> None:
    """A token is bound to its user: the manager's own grant cannot be streamed with the officer's session."""
    token = footage.token(footage.start_playback())
    session = playback.read_token(token)
    stolen = playback.Session(
        footage.people.manager.pk, session.property_id, session.grant_id, session.camera_id, session.start,
        session.end, time.time(),
    )  # fmt: skip
    response = footage.client.get(footage.url("stream", token=stolen.token()))
    assert response.status_code == 403 and denied(Action.FOOTAGE_PLAYED, "not_your_session") == 1


def test_watched_windows_are_audited_and_outside_ones_refused(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    url = footage.url("watched", token=token)
    a, b = footage.start + 2 * SECOND, footage.start + 17 * SECOND
    ok = footage.client.post(
        url, json.dumps({"ranges": [[a.isoformat(), b.isoformat()]]}), content_type="application/json"
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["recorded"] == 1
    entry = AuditEntry.objects.get(action=Action.FOOTAGE_WATCHED, outcome=Outcome.ALLOWED)
    assert entry.details["start"] == a.isoformat() and entry.details["end"] == b.isoformat()
    assert entry.details["ms"] == 15000
    assert entry.details["camera"] == "CAM-1" and entry.grant_ref == str(footage.grant.pk)
    outside = [[(footage.end - SECOND).isoformat(), (footage.end + SECOND).isoformat()]]
    bad = footage.client.post(url, json.dumps({"ranges": outside}), content_type="application/json")
    assert bad.status_code == 400 and bad.json()["field"] == "ranges[0]"
    for junk in ["nope", json.dumps({"ranges": [["x", "y"]]}), json.dumps({"ranges": []})]:
        assert footage.client.post(url, junk, content_type="application/json").status_code == 400
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_WATCHED, outcome=Outcome.ALLOWED).count() == 1


def test_cache_is_purged_after_the_session(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    clip = wait_complete(token)
    assert playback.purge_cache() == 0 and clip.final.exists()
    assert playback.purge_cache(now=time.time() + playback.SESSION_SECONDS + 5) == 2  # the clip and its facts
    assert not clip.final.exists() and not clip.meta.exists()


def test_no_recording_in_the_window_counts_no_use(footage: Footage) -> None:
    response = footage.start_playback(
        start=(footage.start + 31 * SECOND).isoformat(), end=(footage.start + 39 * SECOND).isoformat()
    )
    assert response.status_code == 409
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 0


def test_the_player_plays_in_a_browser_with_overlay_and_masks(
    page: Any,  # noqa: F811  (the browser fixture)
    hotel: Hotel,
    people: People,
    tmp_path: Path,
) -> None:
    """Headless Chromium: the stream plays (currentTime advances), the overlay names the viewer and the request and
    shows the footage's wall-clock time, a privacy mask covers its corner; no console (CSP) errors."""
    hotel.camera.privacy_masks = [[[0.62, 0.08], [0.95, 0.08], [0.95, 0.42], [0.62, 0.42]]]
    hotel.camera.save()
    w0 = (timezone.now() - dt.timedelta(hours=2)).replace(second=0, microsecond=0).astimezone(dt.UTC)
    root = tmp_path / "nvr"
    for n, offset in enumerate([0, 10, 20, 40, 50]):
        make_segment(frigate_path(root, "CAM-1", w0 + offset * SECOND), seconds=10, seed=n)
    ingest([root], prop=hotel.prop, layout=Layout.compile(FRIGATE_PATTERN))
    grant = make_grant(hotel, people, w0)
    page.goto(page.base_url + "/accounts/login/")
    page.fill("#id_username", people.officer.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(page.base_url + reverse("playback:timeline", kwargs={"code": hotel.prop.code, "grant_pk": grant.pk}))
    assert page.locator(".pb-gap").count() == 1
    page.click(".pb-start button[type=submit]")
    page.wait_for_selector("[data-player]")
    deadline = time.monotonic() + 20
    while page.evaluate("() => document.querySelector('[data-video]').currentTime") < 2.5:
        assert time.monotonic() < deadline, page.inner_text("[data-status]")
        page.wait_for_timeout(200)
    overlay = page.inner_text(".pb-overlay")
    assert "Officer" in overlay and grant.request.number in overlay
    footage_time = page.inner_text("[data-footage-time]")
    assert footage_time.startswith(timezone.localtime(w0, hotel_tz(hotel)).strftime("%Y-%m-%d %H:%M"))
    assert page.locator(".pb-masks polygon").count() == 1
    page.evaluate("document.querySelector('[data-video]').pause()")
    page.locator("#player").screenshot(path=str(SCREENSHOT))
    page.wait_for_timeout(500)
    entry = AuditEntry.objects.filter(action=Action.FOOTAGE_WATCHED, outcome=Outcome.ALLOWED).first()
    assert entry is not None and entry.details["camera"] == "CAM-1"  # the pause reported what was watched


def hotel_tz(hotel: Hotel) -> Any:
    import zoneinfo

    return zoneinfo.ZoneInfo(hotel.prop.timezone)


def test_the_purge_task_removes_expired_clips(footage: Footage) -> None:
    token = footage.token(footage.start_playback())
    clip = wait_complete(token)
    old = time.time() - playback.SESSION_SECONDS - 60
    for path in (clip.final, clip.meta):
        os.utime(path, (old, old))
    result = playback.purge_playback_cache.call()
    assert result == {"removed": 2} and not clip.final.exists()


# --- review fixes: refusals under the lock, masks in the stream, hostile reports, races, the builders' cap --------


def test_a_refusal_under_the_lock_keeps_its_denied_entry(footage: Footage, monkeypatch: Any) -> None:
    """The grant is revoked between the pre-check and use_grant's lock: the denied entry use_grant wrote is rolled
    back with the transaction, so start_session commits it again; no use, no FOOTAGE_PLAYED."""
    actions.revoke_grant(footage.grant, "Case closed", acting_user=footage.people.manager)
    footage.grant.refresh_from_db()
    monkeypatch.setattr(grants, "check_use", lambda *args, **kwargs: footage.grant)  # passed just before the revoke
    response = footage.start_playback()
    assert response.status_code == 403
    entry = AuditEntry.objects.get(action=Action.GRANT_USED, outcome=Outcome.DENIED)
    assert entry.details["reason"] == "revoked" and entry.details["camera"] == "CAM-1"
    assert entry.grant_ref == str(footage.grant.pk) and entry.request_ref == footage.grant.request.number
    assert not AuditEntry.objects.filter(action=Action.FOOTAGE_PLAYED, outcome=Outcome.ALLOWED).exists()
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 0


MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]  # the top-left quarter of the picture


def corner_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The colour at (40, 40) (inside MASK) of every decoded frame."""
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_image().getpixel((40, 40)) for frame in container.decode(video=0)]


def test_a_masked_camera_streams_only_the_masked_clip(footage: Footage) -> None:
    """The stream of a camera with privacy masks is re-encoded with them filled black; it is never tailed while
    built and the unmasked stream copy is never served (nor left in the cache)."""
    camera = footage.hotel.camera
    source = Segment.objects.filter(camera=camera, start__gte=footage.start).order_by("start").first()
    assert source is not None
    assert all(pixel[2] > 60 for pixel in corner_pixels(Path(source.path).read_bytes()))  # the source: not black
    camera.privacy_masks = [MASK]
    camera.save()
    token = footage.token(footage.start_playback())  # the whole window, across its 10 s gap
    response = footage.client.get(footage.url("stream", token=token))
    assert response.status_code == 200 and response.has_header("Content-Length")  # the complete, masked file
    data = body(response)
    pixels = corner_pixels(data)
    assert len(pixels) == 500 and all(max(pixel) < 24 for pixel in pixels)
    clip = wait_complete(token)
    walls = frame_walls(data, dt.datetime.fromisoformat(clip.info()["actual_start"]))
    assert not [w for w in walls if footage.start + 30 * SECOND <= w < footage.start + 40 * SECOND]  # still a gap
    assert clip.final.read_bytes() == data and clip.info()["masked"] is True
    assert sorted(p.suffix for p in playback.cache_dir().iterdir()) == [".json", ".mp4"]  # no unmasked copy kept
    ranged = footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-99")
    assert ranged.status_code == 206 and body(ranged) == data[:100]
    html = footage.client.get(footage.url("timeline") + f"?session={token}").content.decode()
    assert 'class="pb-masks"' in html and "privacy masks blacked out" in html  # the overlay is kept too


def test_an_unmasked_clip_is_not_served_for_a_camera_masked_since(footage: Footage) -> None:
    token = footage.token(footage.start_playback(end=(footage.start + 20 * SECOND).isoformat()))
    plain = wait_complete(token)
    footage.hotel.camera.privacy_masks = [MASK]
    footage.hotel.camera.save()
    data = body(footage.client.get(footage.url("stream", token=token)))
    assert data != plain.final.read_bytes()
    assert all(max(pixel) < 24 for pixel in corner_pixels(data))


def test_watched_refuses_deeply_nested_and_oversized_reports(footage: Footage) -> None:
    url = footage.url("watched", token=footage.token(footage.start_playback()))
    deep = footage.client.post(url, "[" * 5000 + "]" * 5000, content_type="application/json")
    assert deep.status_code == 400 and deep.json()["field"] == "ranges"
    deeper = footage.client.post(url, '{"ranges": ' + "[" * 7000 + "]" * 7000 + "}", content_type="application/json")
    assert deeper.status_code == 400
    assert footage.client.post(url, "[" * 100000, content_type="application/json").status_code == 400
    huge = json.dumps({"ranges": [[footage.start.isoformat(), footage.end.isoformat()]] * 400})
    too_large = footage.client.post(url, huge, content_type="application/json")
    assert too_large.status_code == 400 and too_large.json()["error"] == "too_large"
    assert not AuditEntry.objects.filter(action=Action.FOOTAGE_WATCHED, outcome=Outcome.ALLOWED).exists()


def slow_builds(monkeypatch: Any, seconds: float) -> None:
    """Every write of a clip being built waits a little, so a build lasts long enough to race with."""
    write = playback._Counting.write

    def slow(self: Any, data: Any) -> int:
        time.sleep(seconds)
        return write(self, data)

    monkeypatch.setattr(playback._Counting, "write", slow)


def test_a_clip_completed_after_the_answer_still_streams_whole(footage: Footage, monkeypatch: Any) -> None:
    """The builder renames .part to .mp4 after the view answered with the growing file and before its body is read:
    the body is still the whole clip (the view opened the file before answering)."""
    slow_builds(monkeypatch, 0.02)
    token = footage.token(footage.start_playback(end=(footage.start + 20 * SECOND).isoformat()))
    response = footage.client.get(footage.url("stream", token=token))
    assert response.status_code == 200 and not response.has_header("Content-Length")  # the growing file
    clip = wait_complete(token)  # renamed now, nothing read yet
    assert body(response) == clip.final.read_bytes()


def test_a_part_renamed_before_it_is_opened_falls_back_to_the_final_file(footage: Footage, monkeypatch: Any) -> None:
    slow_builds(monkeypatch, 0.02)
    open_part = playback.open_part

    def late(builder: playback.Builder) -> Any:
        builder.wait(lambda: builder.done, 60)  # the rename happens between the view's check and the open
        return open_part(builder)

    monkeypatch.setattr(playback, "open_part", late)
    token = footage.token(footage.start_playback(end=(footage.start + 20 * SECOND).isoformat()))
    response = footage.client.get(footage.url("stream", token=token))
    clip = wait_complete(token)
    assert response.status_code == 200 and response["Content-Length"] == str(clip.final.stat().st_size)
    assert body(response) == clip.final.read_bytes()


def test_too_many_builders_is_a_503_with_retry_after(footage: Footage, monkeypatch: Any) -> None:
    monkeypatch.setattr(playback, "BUILDERS_MAX", 1)
    monkeypatch.setitem(playback._builders, "0" * 40, object())  # another clip being built
    token = footage.token(footage.start_playback())  # the use is counted; the build waits for a free builder
    busy = footage.client.get(footage.url("stream", token=token))
    assert busy.status_code == 503 and busy["Retry-After"] == "5"
    assert "Too many clips are being prepared" in busy.content.decode()
    assert footage.client.get(footage.url("timeline") + f"?session={token}").status_code == 200
    monkeypatch.delitem(playback._builders, "0" * 40)
    assert footage.client.get(footage.url("stream", token=token)).status_code == 200
    footage.grant.refresh_from_db()
    assert footage.grant.views_used == 1


def test_purge_keeps_the_facts_of_a_clip_in_use(footage: Footage) -> None:
    """A clip created long ago but used just now (its .mp4 touched) keeps its .json: it is still served whole."""
    token = footage.token(footage.start_playback())
    clip = wait_complete(token)
    old = time.time() - playback.SESSION_SECONDS - 60
    os.utime(clip.meta, (old, old))
    os.utime(clip.final, (old, old))
    assert footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-9").status_code == 206
    assert playback.purge_cache() == 0 and clip.meta.exists() and clip.final.exists()
    assert clip_of(token).builder is None  # still complete, not rebuilt
    leftover = playback.cache_dir() / ("f" * 40 + ".json")  # the facts of a clip already gone
    leftover.write_text("{}")
    os.utime(leftover, (old, old))
    assert playback.purge_cache() == 1 and not leftover.exists()


def test_a_clip_purged_between_lookup_and_read_is_gone_not_an_error(footage: Footage, monkeypatch: Any) -> None:
    token = footage.token(footage.start_playback())
    wait_complete(token)
    builder_for = playback.builder_for

    def purged(session: playback.Session, **kwargs: Any) -> playback.Clip:
        clip = builder_for(session, **kwargs)
        clip.final.unlink()  # the purge ran just after the lookup
        return clip

    monkeypatch.setattr(playback, "builder_for", purged)
    response = footage.client.get(footage.url("stream", token=token), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 410 and "start the playback again" in response.content.decode()


def test_a_huge_camera_number_is_a_form_error(footage: Footage) -> None:
    assert footage.start_playback(camera="9" * 30).status_code == 400
