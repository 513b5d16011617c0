"""Legal holds: who may set and release them, validation naming the field, the sealed reason and its audited read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.retention import holds
from custody.retention.models import LegalHold
from tests.conftest import Hotel, signed_in_client
from tests.test_retention import add_segment

REASON = "Guest Zhang Wei slipped near the lobby bar; insurer asked to keep the footage"
URL = "/p/seaside/retention/"
START = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def form_data(hotel: Hotel, **changes: Any) -> dict[str, Any]:
    # Madrid wall-clock time (the property's zone): 10:00-11:00 is 09:00-10:00 UTC in January.
    data = {
        "cameras": [hotel.camera.pk], "window_start": "2026-01-10T10:00", "window_end": "2026-01-10T11:00",
        "case_reference": "CLAIM-2026/17", "reason": REASON,
    }  # fmt: skip
    data.update(changes)
    return data


def entries(action: Action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


def set_one(hotel: Hotel, user: Any) -> LegalHold:
    return holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=START, end=START + dt.timedelta(hours=1),
        case_reference="CLAIM-2026/17", reason=REASON, acting_user=user,
    )  # fmt: skip


@pytest.mark.django_db
def test_security_manager_sets_a_hold(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    client = client_for_role(Role.SECURITY_MANAGER)
    response = client.post(URL + "holds/new/", form_data(hotel))
    hold = LegalHold.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{URL}holds/{hold.pk}/"
    assert hold.window_start == START and hold.window_end == START + dt.timedelta(hours=1)
    assert list(hold.cameras.all()) == [hotel.camera] and hold.case_reference == "CLAIM-2026/17"
    audit = entries(Action.LEGAL_HOLD_SET)[-1]
    assert audit.details["cameras"] == ["CAM-1"] and audit.details["hold"] == str(hold.pk)
    assert "Zhang" not in str(audit.details)

    listing = client.get(URL).content.decode()
    assert "CLAIM-2026/17" in listing


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"case_reference": "Zhang Wei"}, "case_reference", "never a name"),
        ({"case_reference": ""}, "case_reference", "required"),
        ({"window_end": "2026-01-10T09:00"}, "window_end", "after the start"),
        ({"window_start": "yesterday"}, "window_start", "valid date"),
        ({"cameras": []}, "cameras", "required"),
        ({"cameras": [999999]}, "cameras", "not one of the available choices"),
        ({"reason": "   "}, "reason", "required"),
    ],
)
@pytest.mark.django_db
def test_bad_input_names_the_field_and_saves_nothing(
    hotel: Hotel, client_for_role: Callable[[str], Client], changes: dict[str, Any], field: str, message: str
) -> None:
    client = client_for_role(Role.PRIVACY_OFFICER)
    response = client.post(URL + "holds/new/", form_data(hotel, **changes))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert message in " ".join(form.errors[field])
    assert not LegalHold.objects.exists()
    assert not entries(Action.LEGAL_HOLD_SET)


@pytest.mark.django_db
def test_another_propertys_camera_is_refused(hotel: Hotel, other_hotel: Hotel, user_for_role: Any) -> None:
    with pytest.raises(holds.HoldError) as refused:
        holds.set_hold(
            hotel.prop, cameras=[other_hotel.camera], start=START, end=START + dt.timedelta(hours=1),
            case_reference="X-1", reason="r", acting_user=user_for_role(Role.PROPERTY_MANAGER),
        )  # fmt: skip
    assert refused.value.field == "cameras"
    assert not LegalHold.objects.exists()


@pytest.mark.django_db
def test_reason_is_sealed_in_the_database(hotel: Hotel, user_for_role: Any) -> None:
    manager = user_for_role(Role.PROPERTY_MANAGER)
    hold = set_one(hotel, manager)
    holds.release_hold(hold, reason="Settled with Zhang Wei's insurer", acting_user=manager)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT reason, release_reason, case_reference FROM {LegalHold._meta.db_table} WHERE id = %s",  # noqa: S608
            [hold.pk.hex if connection.vendor == "sqlite" else hold.pk],
        )
        reason, release_reason, reference = cursor.fetchone()
    assert reference == "CLAIM-2026/17"
    for blob in (bytes(reason), bytes(release_reason)):
        assert b"Zhang" not in blob and b"insurer" not in blob and len(blob) > 16
    # A ciphertext copied onto another hold does not open there (bound to table, column and row).
    other = set_one(hotel, manager)
    LegalHold.objects.filter(pk=other.pk).update(reason=reason)
    other.refresh_from_db()
    with pytest.raises(Exception, match=r"does not authenticate|legalhold"):
        holds.read_reasons(other, acting_user=manager)


@pytest.mark.django_db
def test_reading_the_reason_is_audited_and_auditors_never_see_it(
    hotel: Hotel, client_for_role: Callable[[str], Client], user_for_role: Any, tmp_path: Path
) -> None:
    hold = set_one(hotel, user_for_role(Role.SECURITY_MANAGER))
    add_segment(hotel.camera, tmp_path, START + dt.timedelta(minutes=5))  # covered
    add_segment(hotel.camera, tmp_path, START + dt.timedelta(hours=2))  # not covered

    page = client_for_role(Role.PRIVACY_OFFICER).get(f"{URL}holds/{hold.pk}/")
    assert page.status_code == 200
    assert "Zhang Wei slipped" in page.content.decode()
    viewed = entries(Action.LEGAL_HOLD_VIEWED)
    assert len(viewed) == 1 and viewed[0].outcome == Outcome.ALLOWED and viewed[0].object_id == str(hold.pk)
    assert page.context["coverage"].live_segments == 1

    page = client_for_role(Role.AUDITOR).get(f"{URL}holds/{hold.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "CLAIM-2026/17" in text and "CAM-1" in text
    assert "Zhang" not in text
    assert len(entries(Action.LEGAL_HOLD_VIEWED)) == 1


@pytest.mark.django_db
def test_release_needs_the_role_and_a_reason(
    hotel: Hotel, client_for_role: Callable[[str], Client], user_for_role: Any
) -> None:
    manager = user_for_role(Role.SECURITY_MANAGER)
    hold = set_one(hotel, manager)
    release = f"{URL}holds/{hold.pk}/release/"

    assert signed_in_client(manager).post(release, {"reason": "done"}).status_code == 403
    officer = client_for_role(Role.PRIVACY_OFFICER)
    response = officer.post(release, {"reason": ""})
    assert response.status_code == 400 and "reason" in response.context["form"].errors
    hold.refresh_from_db()
    assert hold.released_at is None

    response = officer.post(release, {"reason": "Claim withdrawn"})
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.released_at is not None and hold.released_by is not None
    assert entries(Action.LEGAL_HOLD_RELEASED)[-1].details == {"hold": str(hold.pk), "case_reference": "CLAIM-2026/17"}
    assert "Claim withdrawn" in officer.get(f"{URL}holds/{hold.pk}/").content.decode()

    again = officer.post(release, {"reason": "twice"})
    assert again.status_code == 302
    assert len(entries(Action.LEGAL_HOLD_RELEASED)) == 1
    with pytest.raises(holds.HoldError):
        holds.release_hold(hold, reason="twice", acting_user=hold.released_by)
