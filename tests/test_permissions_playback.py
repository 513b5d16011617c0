"""Permission matrix of in-grant playback: every playback URL for every role.

The footage grant is held by the security officer of the columns: the holder's column shows the allowed path.
Reviewers may see the grant but never play it (403, logged); the front desk files requests but this grant is not
theirs (404); IT admins and auditors never reach footage (403); another property's staff get 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from custody.accounts.models import User
from custody.accounts.roles import TWO_FACTOR_ROLES
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.footage import playback
from custody.footage.models import Segment
from custody.requests import actions as request_actions
from custody.requests.actions import RequestData
from custody.requests.models import Grant, Purpose, RequestType
from tests.conftest import OUTSIDER, make_user, signed_in_client
from tests.test_footage_ingest import make_segment
from tests.test_permissions import (  # noqa: F401  (fixtures)
    ANON,
    AU,
    FD,
    IT,
    LOGIN,
    METHOD_NOT_ALLOWED,
    PM,
    PO,
    SM,
    SO,
    WHO,
    Post,
    Redirect,
    Row,
    World,
    fast_hashing,
    post_rows,
    run_get,
    run_post,
    world,
)

REVIEWERS = {SM, PO, PM}
HOLDER = SO
PLAY = "/p/seaside/play/"
_CLIP: dict[str, Path] = {}


def column_user(w: World, role: str) -> User:
    username = f"u-{role}"
    return User.objects.filter(username=username).first() or make_user(
        username, w.hotel.prop, role, totp_device=role in TWO_FACTOR_ROLES
    )


@pytest.fixture
def client_as(world: World, request: pytest.FixtureRequest) -> Callable[[str], Client]:  # noqa: F811
    """Like tests.test_permissions.client_as, but reuses a column user the row's objects already made."""

    def make(who: str) -> Client:
        if who == ANON:
            return Client()
        if who == OUTSIDER:
            return signed_in_client(request.getfixturevalue("outsider"))
        return signed_in_client(column_user(world, who))

    return make


def recorded_clip() -> Path:
    """One 10-second clip, generated once per run and indexed as a segment in each test's database."""
    if "clip" not in _CLIP:
        path = Path(tempfile.mkdtemp(prefix="custody-playback-matrix-")) / "clip.mp4"
        make_segment(path, seconds=10)
        _CLIP["clip"] = path
    return _CLIP["clip"]


def the_grant(w: World) -> Grant:
    if "play_grant" not in w.requests:
        start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=3)
        path = recorded_clip()
        data = path.read_bytes()
        Segment.objects.create(
            camera=w.hotel.camera, start=start, end=start + dt.timedelta(seconds=10), duration=10.0, path=str(path),
            size=len(data), mtime_ns=path.stat().st_mtime_ns, codec="h264", width=320, height=240,
            sha256=hashlib.sha256(data).hexdigest(),
        )  # fmt: skip
        approver = User.objects.filter(username="approver").first() or make_user("approver", w.hotel.prop, PO)
        request = request_actions.create_request(
            w.hotel.prop,
            RequestData(
                request_type=RequestType.FOOTAGE_VIEW, purpose=Purpose.SECURITY_INCIDENT,
                legal_basis="legitimate_interests", purpose_text="Wallet reported stolen in the lobby",
                cameras=[w.hotel.camera], window_start=start, window_end=start + dt.timedelta(minutes=30),
            ),
            acting_user=column_user(w, HOLDER),
        )  # fmt: skip
        request = request_actions.submit_request(request, acting_user=column_user(w, HOLDER))
        request_actions.approve_request(request, acting_user=approver)
        w.requests["play_grant"] = Grant.objects.get(request=request)
    return w.requests["play_grant"]


def session(w: World) -> playback.Session:
    if "play_session" not in w.requests:
        grant = the_grant(w)
        assert grant.window_start is not None and grant.window_end is not None
        w.requests["play_session"] = playback.start_session(
            grant, actor=column_user(w, HOLDER), prop=w.hotel.prop, camera=w.hotel.camera,
            start=grant.window_start, end=grant.window_end,
        )  # fmt: skip
        w.requests["play_token"] = w.requests["play_session"].token()
    return w.requests["play_session"]


def grant_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "grant_pk": the_grant(w).pk}


def token_kwargs(w: World) -> dict[str, Any]:
    session(w)
    return {**grant_kwargs(w), "token": w.requests["play_token"]}


def table(allowed: Any, *, reviewers: Any, filers: Any = 404) -> dict[str, Any]:
    result: dict[str, Any] = {ANON: LOGIN, OUTSIDER: 404, IT: 403, AU: 403, FD: filers, HOLDER: allowed}
    result.update(dict.fromkeys(REVIEWERS, reviewers))
    assert set(result) == set(WHO)
    return result


def uses(w: World) -> int:
    return Grant.objects.get(pk=the_grant(w).pk).views_used


def watched_data(w: World) -> dict[str, Any]:
    s = session(w)
    return {"ranges": json.dumps([[s.start.isoformat(), (s.start + dt.timedelta(seconds=5)).isoformat()]])}


MATRIX: dict[str, Row] = {
    "playback:timeline": Row(grant_kwargs, table(200, reviewers=403)),
    "playback:start": Row(
        grant_kwargs,
        METHOD_NOT_ALLOWED,
        Post(lambda w: {"camera": w.hotel.camera.pk}, lambda w: uses(w) > 0, table(Redirect(PLAY), reviewers=403)),
    ),
    "playback:stream": Row(token_kwargs, table(200, reviewers=403)),
    "playback:watched": Row(
        token_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            watched_data,
            lambda w: AuditEntry.objects.filter(action=Action.FOOTAGE_WATCHED, outcome=Outcome.ALLOWED).exists(),
            table(200, reviewers=403),
        ),
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get(world: World, client_as: Callable[[str], Client], name: str, who: str) -> None:  # noqa: F811
    response = run_get(world, client_as, MATRIX, name, who)
    if name == "playback:stream" and who == HOLDER:
        data = b"".join(response.streaming_content)
        assert data[4:8] == b"ftyp"


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", post_rows(MATRIX))
def test_post(world: World, client_as: Callable[[str], Client], name: str, who: str) -> None:  # noqa: F811
    run_post(world, client_as, MATRIX, name, who)


def test_an_expired_session_is_refused(world: World, client_as: Callable[[str], Client]) -> None:  # noqa: F811
    """A token's age is its signature's: one signed more than 30 minutes ago is refused (403, logged)."""
    kwargs = token_kwargs(world)
    then = int(time.time()) - playback.SESSION_SECONDS - 60
    with mock.patch.object(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(then)):
        stale = session(world).token()
    url = reverse("playback:stream", kwargs={**kwargs, "token": stale})
    assert client_as(HOLDER).get(url).status_code == 403
    entry = AuditEntry.objects.filter(action=Action.FOOTAGE_PLAYED, outcome=Outcome.DENIED).get()
    assert entry.details["reason"] == "session_expired"
    assert client_as(HOLDER).get(reverse("playback:stream", kwargs=kwargs)).status_code == 200
