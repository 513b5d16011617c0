"""Download links: shown once to their creator, single use, expiring, bound to the user; every use audited. A package
is footage: links, downloads and retries are for the export's creator while the grant is usable."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.evidence import links, views
from custody.evidence.models import DownloadLink, Export, ExportStatus
from custody.requests import actions
from custody.requests.models import Grant
from tests.conftest import Hotel, make_user, signed_in_client
from tests.test_evidence_fixtures import footage_export_grant, mark_done, mark_failed

CONTENT = b"PK\x05\x06" + b"\x00" * 18 + b"package bytes"


@pytest.fixture
def done_export(hotel: Hotel, settings: Any, tmp_path: Path) -> Export:
    from custody.evidence import exporting

    settings.CUSTODY_HOME = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    holder = make_user("holder", hotel.prop, Role.SECURITY_OFFICER)
    approver = make_user("approver", hotel.prop, Role.PRIVACY_OFFICER)
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    grant = footage_export_grant(hotel, [hotel.camera], start, start + dt.timedelta(minutes=10), holder, approver)
    export = exporting.create_export(
        grant, cameras=[hotel.camera], start=start, end=start + dt.timedelta(minutes=10), acting_user=holder
    )
    return mark_done(export, CONTENT)


def download_url(export: Export, token: str) -> str:
    return reverse("evidence:download", kwargs={"code": export.property.code, "token": token})


@pytest.mark.django_db
def test_link_is_shown_once_and_downloads_once(done_export: Export) -> None:
    client = signed_in_client(done_export.created_by)
    page = client.post(reverse("evidence:create_link", kwargs={"code": "seaside", "pk": done_export.pk}))
    assert page.status_code == 200
    url = re.search(r'class="download-link" href="([^"]+)"', page.content.decode())
    assert url is not None
    token = url.group(1).rstrip("/").rsplit("/", 1)[1]
    link = DownloadLink.objects.get()
    assert link.token_hash == links.token_hash(token) and token not in link.token_hash
    assert AuditEntry.objects.filter(action=Action.EVIDENCE_LINK_CREATED).count() == 1
    again = client.get(reverse("evidence:detail", kwargs={"code": "seaside", "pk": done_export.pk}))
    assert token not in again.content.decode()  # shown once

    response = client.get(url.group(1))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Content-Disposition"].startswith("attachment;")
    assert done_export.package_name in response["Content-Disposition"]
    downloaded = AuditEntry.objects.get(action=Action.EVIDENCE_DOWNLOADED, outcome=Outcome.ALLOWED)
    assert downloaded.details["link"] == str(link.pk)
    assert DownloadLink.objects.get().used_at is not None

    second = client.get(url.group(1))
    assert second.status_code == 403
    assert "already been used" in second.content.decode()
    denied = AuditEntry.objects.get(action=Action.EVIDENCE_DOWNLOADED, outcome=Outcome.DENIED)
    assert denied.details["reason"] == "used"


@pytest.mark.django_db
def test_a_head_request_does_not_use_up_the_link(done_export: Export) -> None:
    _, token = links.create_link(done_export, acting_user=done_export.created_by)
    client = signed_in_client(done_export.created_by)
    assert client.head(download_url(done_export, token)).status_code == 405
    assert client.get(download_url(done_export, token)).status_code == 200


@pytest.mark.django_db
def test_link_of_another_user_is_404_and_logged(done_export: Export, hotel: Hotel) -> None:
    _, token = links.create_link(done_export, acting_user=done_export.created_by)
    colleague = make_user("colleague", hotel.prop, Role.SECURITY_OFFICER)
    response = signed_in_client(colleague).get(download_url(done_export, token))
    assert response.status_code == 404
    denied = AuditEntry.objects.get(action=Action.EVIDENCE_DOWNLOADED, outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.details["reason"]) == (colleague.pk, "other_user")
    assert DownloadLink.objects.get().used_at is None  # still usable by its owner
    assert signed_in_client(done_export.created_by).get(download_url(done_export, token)).status_code == 200


@pytest.mark.django_db
def test_expired_and_unknown_links_are_refused(done_export: Export, settings: Any) -> None:
    settings.CUSTODY_EVIDENCE_LINK_HOURS = 2
    link, token = links.create_link(done_export, acting_user=done_export.created_by)
    assert abs((link.expires_at - timezone.now()) - dt.timedelta(hours=2)) < dt.timedelta(minutes=1)
    DownloadLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client = signed_in_client(done_export.created_by)
    expired = client.get(download_url(done_export, token))
    assert expired.status_code == 403 and "expired" in expired.content.decode()
    assert client.get(download_url(done_export, "not-a-token")).status_code == 404
    reasons = sorted(
        e.details["reason"]
        for e in AuditEntry.objects.filter(action=Action.EVIDENCE_DOWNLOADED, outcome=Outcome.DENIED)
    )
    assert reasons == ["expired", "unknown"]


@pytest.mark.django_db
def test_no_link_for_an_unfinished_export(done_export: Export) -> None:
    Export.objects.filter(pk=done_export.pk).update(status="running", package_sha256="")
    done_export.refresh_from_db()
    with pytest.raises(links.LinkRefused):
        links.create_link(done_export, acting_user=done_export.created_by)
    client = signed_in_client(done_export.created_by)
    response = client.post(reverse("evidence:create_link", kwargs={"code": "seaside", "pk": done_export.pk}))
    assert response.status_code == 400
    assert not DownloadLink.objects.exists()


# --- a package is footage: the creator, with a usable grant, only ---------------------------------------------------


def link_page(client: Any, export: Export) -> Any:
    return client.post(reverse("evidence:create_link", kwargs={"code": "seaside", "pk": export.pk}))


def denied(action: Action) -> list[str]:
    return [e.details["reason"] for e in AuditEntry.objects.filter(action=action, outcome=Outcome.DENIED)]


@pytest.mark.django_db
def test_a_reviewer_sees_the_export_but_gets_no_link(done_export: Export, hotel: Hotel) -> None:
    manager = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    client = signed_in_client(manager)
    page = client.get(reverse("evidence:detail", kwargs={"code": "seaside", "pk": done_export.pk}))
    assert page.status_code == 200
    html = page.content.decode()
    assert done_export.package_sha256 in html  # metadata and hashes
    assert "Create a download link" not in html
    assert "Only the person who made this export can download its package" in html

    refused = link_page(client, done_export)
    assert refused.status_code == 403
    assert "Only the person who made this export can download its package" in refused.content.decode()
    assert 'class="download-link"' not in refused.content.decode()
    assert not DownloadLink.objects.exists()
    assert denied(Action.EVIDENCE_LINK_CREATED) == ["not_the_creator"]


@pytest.mark.django_db
def test_a_reviewer_cannot_use_a_link_made_for_them_before(done_export: Export, hotel: Hotel) -> None:
    manager = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    # A link bound to a reviewer (as older versions made them) does not download either.
    link = DownloadLink.objects.create(
        export=done_export, user=manager, token_hash=links.token_hash("old-token"),
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip
    response = signed_in_client(manager).get(download_url(done_export, "old-token"))
    assert response.status_code == 403
    assert "Only the person who made this export" in response.content.decode()
    assert denied(Action.EVIDENCE_DOWNLOADED) == ["not_the_creator"]
    assert DownloadLink.objects.get(pk=link.pk).used_at is None
    assert not AuditEntry.objects.filter(action=Action.EVIDENCE_DOWNLOADED, outcome=Outcome.ALLOWED).exists()


def revoke(export: Export, hotel: Hotel) -> None:
    manager = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    actions.revoke_grant(export.grant, "misuse suspected", acting_user=manager)


def end_validity(grant_id: Any) -> None:
    """The grant's validity ended a second ago."""
    now = timezone.now()
    Grant.objects.filter(pk=grant_id).update(
        valid_from=now - dt.timedelta(days=1), valid_until=now - dt.timedelta(seconds=1)
    )


def expire(export: Export, hotel: Hotel) -> None:
    end_validity(export.grant_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("end_grant", "code", "text"), [(revoke, "grant_revoked", "was revoked"), (expire, "grant_expired", "has expired")]
)
def test_no_link_nor_download_once_the_grant_is_revoked_or_expired(
    done_export: Export, hotel: Hotel, end_grant: Callable[[Export, Hotel], None], code: str, text: str
) -> None:
    _, token = links.create_link(done_export, acting_user=done_export.created_by)  # made while the grant was usable
    end_grant(done_export, hotel)
    client = signed_in_client(done_export.created_by)

    refused = link_page(client, done_export)
    assert refused.status_code == 403 and text in refused.content.decode()
    assert DownloadLink.objects.count() == 1
    response = client.get(download_url(done_export, token))
    assert response.status_code == 403 and text in response.content.decode()
    assert not hasattr(response, "streaming_content")
    assert DownloadLink.objects.get().used_at is None
    assert denied(Action.EVIDENCE_LINK_CREATED) == [code]
    assert denied(Action.EVIDENCE_DOWNLOADED) == [code]
    detail = client.get(reverse("evidence:detail", kwargs={"code": "seaside", "pk": done_export.pk}))
    assert "Create a download link" not in detail.content.decode()


@pytest.mark.django_db
def test_retry_is_for_the_creator_with_a_usable_grant(done_export: Export, hotel: Hotel) -> None:
    failed = mark_failed(done_export)
    url = reverse("evidence:retry", kwargs={"code": "seaside", "pk": failed.pk})
    manager = make_user("pm", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    as_reviewer = signed_in_client(manager).post(url)
    assert as_reviewer.status_code == 403
    assert "Only the person who made this export" in as_reviewer.content.decode()
    expire(failed, hotel)
    as_creator = signed_in_client(failed.created_by).post(url)
    assert as_creator.status_code == 403 and "has expired" in as_creator.content.decode()
    assert Export.objects.get(pk=failed.pk).status == ExportStatus.FAILED
    assert denied(Action.EXPORT_RETRIED) == ["not_the_creator", "grant_expired"]


@pytest.mark.django_db
def test_a_used_up_grant_says_one_export_is_one_use(done_export: Export) -> None:
    grant = done_export.grant
    Grant.objects.filter(pk=grant.pk).update(view_quota=1, views_used=1)
    zone = zoneinfo.ZoneInfo(done_export.property.timezone)
    assert grant.window_start is not None and grant.window_end is not None
    data = {
        "cameras": [done_export.cameras.get().pk],
        "start": grant.window_start.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S"),
        "end": grant.window_end.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    url = reverse("evidence:new", kwargs={"code": "seaside", "pk": grant.pk})
    response = signed_in_client(done_export.created_by).post(url, data)
    assert response.status_code == 403
    html = response.content.decode()
    assert "each export counts as one use, however many cameras it holds" in html
    assert "each camera" not in html
    with translation.override("zh-hans"):
        assert "每次导出" in str(views.REFUSALS["quota_used"])
