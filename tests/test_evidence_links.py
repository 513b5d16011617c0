"""Download links: shown once to their creator, single use, expiring, bound to the user; every use audited."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.evidence import links
from custody.evidence.models import DownloadLink, Export
from tests.conftest import Hotel, make_user, signed_in_client
from tests.test_evidence_fixtures import footage_export_grant, mark_done

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
