"""Permission matrix of the export pages: every evidence URL for every role.

The export grant is held by the security officer of the columns, so the holder's column shows the allowed path;
exports are that officer's. Reviewers see every export but cannot export under someone else's grant (403, logged),
create a download link or retry (a package is footage: creator with a usable grant only; 403, logged) nor use
someone else's download link (404). IT admins and auditors never reach footage (403).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from custody.accounts.models import User
from custody.accounts.roles import TWO_FACTOR_ROLES
from custody.evidence import exporting, links
from custody.evidence.models import DownloadLink, Export, ExportStatus
from custody.requests.models import Grant
from tests.conftest import OUTSIDER, make_user, signed_in_client
from tests.test_evidence_fixtures import footage_export_grant, mark_done, mark_failed
from tests.test_permissions import (  # noqa: F401  (fixtures)
    ANON,
    AU,
    FD,
    IT,
    LOGIN,
    METHOD_NOT_ALLOWED,
    PM,
    PO,
    ROLES,
    SM,
    SO,
    WHO,
    Post,
    Redirect,
    Row,
    World,
    fast_hashing,
    post_rows,
    prop_kwargs,
    run_get,
    run_post,
    world,
)

REVIEWERS = {SM, PO, PM}
HOLDER = SO
EXPORTS = "/p/seaside/evidence/"


def column_user(w: World, role: str) -> User:
    """The user of a role's column (the same one the client signs in as)."""
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


def the_grant(w: World) -> Grant:
    if "export_grant" not in w.requests:
        approver = User.objects.filter(username="approver").first() or make_user("approver", w.hotel.prop, PO)
        start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
        w.requests["export_grant"] = footage_export_grant(
            w.hotel, [w.hotel.camera], start, start + dt.timedelta(minutes=30), column_user(w, HOLDER), approver
        )
    return w.requests["export_grant"]


def an_export(w: World, state: str) -> Export:
    key = f"export_{state}"
    if key not in w.requests:
        grant = the_grant(w)
        assert grant.window_start is not None and grant.window_end is not None
        export = exporting.create_export(
            grant, cameras=[w.hotel.camera], start=grant.window_start, end=grant.window_end,
            acting_user=column_user(w, HOLDER),
        )  # fmt: skip
        w.requests[key] = mark_done(export) if state == "done" else mark_failed(export)
    return w.requests[key]


def export_kwargs(state: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"code": w.hotel.prop.code, "pk": an_export(w, state).pk}


def grant_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": the_grant(w).pk}


def link_kwargs(w: World) -> dict[str, Any]:
    _, token = links.create_link(an_export(w, "done"), acting_user=column_user(w, HOLDER))
    return {"code": w.hotel.prop.code, "token": token}


def table(allowed: Expect, *, reviewers: Expect, filers: Expect = 404) -> dict[str, Expect]:
    """The holder gets `allowed`, reviewers `reviewers`, the front desk (files requests, not this one) `filers`,
    IT admin and auditor 403, the outsider 404, anonymous -> sign in."""
    result: dict[str, Expect] = {ANON: LOGIN, OUTSIDER: 404, IT: 403, AU: 403, FD: filers, HOLDER: allowed}
    result.update(dict.fromkeys(REVIEWERS, reviewers))
    assert set(result) == set(WHO)
    return result


Expect = Any
NO_POST = Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)
VIEWERS = {FD, SO, SM, PO, PM}


def at_hotel_list() -> dict[str, Expect]:
    result: dict[str, Expect] = {ANON: LOGIN, OUTSIDER: 404}
    for role in ROLES:
        result[role] = 200 if role in VIEWERS else 403
    return result


def _local(w: World, moment: dt.datetime) -> str:
    """A moment as the form reads it: wall-clock time in the property's time zone."""
    return moment.astimezone(zoneinfo.ZoneInfo(w.hotel.prop.timezone)).strftime("%Y-%m-%dT%H:%M:%S")


def new_export_data(w: World) -> dict[str, Any]:
    grant = the_grant(w)
    assert grant.window_start is not None and grant.window_end is not None
    return {"cameras": [w.hotel.camera.pk], "start": _local(w, grant.window_start), "end": _local(w, grant.window_end)}


def status_is(state: str, wanted: str) -> Callable[[World], bool]:
    return lambda w: Export.objects.get(pk=an_export(w, state).pk).status == wanted


MATRIX: dict[str, Row] = {
    "evidence:list": Row(prop_kwargs, at_hotel_list(), NO_POST),
    "evidence:new": Row(
        grant_kwargs,
        table(200, reviewers=403),
        Post(new_export_data, lambda w: Export.objects.exists(), table(Redirect(EXPORTS), reviewers=403)),
    ),
    "evidence:detail": Row(export_kwargs("done"), table(200, reviewers=200), NO_POST),
    "evidence:progress": Row(export_kwargs("failed"), table(200, reviewers=200), NO_POST),
    "evidence:retry": Row(
        export_kwargs("failed"),
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {},
            status_is("failed", ExportStatus.QUEUED),
            table(Redirect(EXPORTS), reviewers=403),
        ),
    ),
    "evidence:create_link": Row(
        export_kwargs("done"),
        METHOD_NOT_ALLOWED,
        Post(lambda w: {}, lambda w: DownloadLink.objects.exists(), table(200, reviewers=403)),
    ),
    # A link works for the one who created it (the holder); for a reviewer it is someone else's link.
    "evidence:download": Row(link_kwargs, table(200, reviewers=404), NO_POST),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get(world: World, client_as: Callable[[str], Client], name: str, who: str) -> None:  # noqa: F811
    run_get(world, client_as, MATRIX, name, who)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", post_rows(MATRIX))
def test_post(world: World, client_as: Callable[[str], Client], name: str, who: str) -> None:  # noqa: F811
    run_post(world, client_as, MATRIX, name, who)
