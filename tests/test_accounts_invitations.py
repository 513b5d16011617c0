"""New accounts set their own password through a single-use, expiring invitation link; the admin never knows it."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from custody.accounts import invitations
from custody.accounts.models import Invitation, User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from tests.conftest import PASSWORD, Hotel, make_user

CHOSEN = "my own long pass phrase 99"


def create_account(hotel: Hotel, client: Client, username: str = "newbie", **extra: Any) -> tuple[User, str]:
    data = {"username": username, "display_name": "New Person", "email": "", "roles": [Role.FRONT_DESK], **extra}
    response = client.post(f"/p/{hotel.prop.code}/staff/new/", data)
    assert response.status_code == 200
    assert "accounts/invitation_issued.html" in [t.name for t in response.templates]
    link: str = response.context["link"]
    assert link.startswith("http://testserver/accounts/invitation/")
    return User.objects.get(username=username), link.removeprefix("http://testserver")


def accept(client: Client, path: str, password: str = CHOSEN) -> Any:
    return client.post(path, {"new_password1": password, "new_password2": password})


def denied_reasons() -> list[str]:
    entries = AuditEntry.objects.filter(action=Action.INVITATION_ACCEPTED, outcome=Outcome.DENIED).order_by("seq")
    return [e.details["reason"] for e in entries]


def test_new_account_has_no_password_until_the_person_sets_one(hotel: Hotel, manager_client: Client) -> None:
    # A password in the form is ignored: the form has no such field any more.
    newbie, path = create_account(hotel, manager_client, password1="admin knows this 1", password2="admin knows this 1")
    manager = User.objects.get(username=f"u-{Role.PROPERTY_MANAGER}")
    assert newbie.created_by_id == manager.pk
    assert not newbie.has_usable_password()
    assert (
        Client().post("/accounts/login/", {"username": "newbie", "password": "admin knows this 1"}).status_code == 400
    )
    issued = AuditEntry.objects.get(action=Action.INVITATION_ISSUED)
    assert (issued.actor_id, issued.object_id) == (manager.pk, str(newbie.pk))

    person = Client()
    page = person.get(path)
    assert page.status_code == 200
    assert "newbie" in page.content.decode()
    # The password validators apply.
    weak = accept(person, path, "short")
    assert weak.status_code == 400
    assert "new_password2" in weak.context["form"].errors
    assert not User.objects.get(pk=newbie.pk).has_usable_password()

    done = accept(person, path)
    assert done.status_code == 302
    assert done["Location"] == "/accounts/login/"
    newbie.refresh_from_db()
    assert newbie.check_password(CHOSEN)
    assert not newbie.must_change_password
    entry = AuditEntry.objects.get(action=Action.INVITATION_ACCEPTED, outcome=Outcome.ALLOWED)
    assert (entry.actor_id, entry.object_id) == (newbie.pk, str(newbie.pk))
    assert CHOSEN not in str(entry.details)
    signed_in = Client()
    assert signed_in.post("/accounts/login/", {"username": "newbie", "password": CHOSEN}).status_code == 302
    assert signed_in.get(f"/p/{hotel.prop.code}/").status_code == 200


def test_only_the_tokens_hash_is_stored(hotel: Hotel, manager_client: Client) -> None:
    newbie, path = create_account(hotel, manager_client)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    invitation = Invitation.objects.get(user=newbie)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_invitation")
        assert token not in repr(cursor.fetchall())
    assert token not in repr(list(AuditEntry.objects.values_list("details", flat=True)))


def test_a_link_works_once(hotel: Hotel, manager_client: Client) -> None:
    newbie, path = create_account(hotel, manager_client)
    assert accept(Client(), path).status_code == 302
    again = accept(Client(), path, "someone else's phrase 77")
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert User.objects.get(pk=newbie.pk).check_password(CHOSEN)
    assert denied_reasons() == ["used"]


def test_an_expired_link_is_refused(hotel: Hotel, manager_client: Client) -> None:
    newbie, path = create_account(hotel, manager_client)
    invitation = Invitation.objects.get(user=newbie)
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(path).status_code == 410
    response = accept(Client(), path)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not User.objects.get(pk=newbie.pk).has_usable_password()
    assert denied_reasons() == ["expired", "expired"]
    entry = AuditEntry.objects.filter(action=Action.INVITATION_ACCEPTED, outcome=Outcome.DENIED).last()
    assert entry is not None and entry.object_id == str(newbie.pk)


def test_an_unknown_link_is_a_404_and_logged(db: None) -> None:
    response = accept(Client(), "/accounts/invitation/not-a-real-token/")
    assert response.status_code == 404
    assert denied_reasons() == ["unknown"]


def test_invitation_lifetime_comes_from_the_setting(hotel: Hotel, manager_client: Client, settings: Any) -> None:
    settings.CUSTODY_INVITATION_HOURS = 2
    newbie, _path = create_account(hotel, manager_client)
    invitation = Invitation.objects.get(user=newbie)
    assert invitation.expires_at - invitation.created_at == timedelta(hours=2)


def test_a_new_link_replaces_the_old_one(hotel: Hotel, manager_client: Client) -> None:
    newbie, old = create_account(hotel, manager_client)
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{newbie.pk}/invitation/")
    assert response.status_code == 200
    new = response.context["link"].removeprefix("http://testserver")
    assert new != old
    assert accept(Client(), old).status_code == 410
    assert denied_reasons() == ["revoked"]
    assert accept(Client(), new).status_code == 302


def test_no_invitation_for_an_account_in_use(hotel: Hotel, manager_client: Client) -> None:
    """A link for an account that has its password would let whoever holds the link take the account over."""
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{clerk.pk}/invitation/")
    assert response.status_code == 409
    assert "http://testserver/accounts/invitation/" not in response.content.decode()
    assert not Invitation.objects.exists()
    entry = AuditEntry.objects.get(action=Action.INVITATION_ISSUED, outcome=Outcome.DENIED)
    assert entry.details == {"reason": "has_password"}
    assert User.objects.get(pk=clerk.pk).check_password(PASSWORD)


def test_no_invitation_for_oneself(hotel: Hotel) -> None:
    admin = make_user("admin", hotel.prop, Role.IT_ADMIN)
    admin.set_unusable_password()
    admin.save()
    with pytest.raises(invitations.InvitationRefused):
        invitations.issue_invitation(admin, acting_user=admin, prop=hotel.prop)
    assert not Invitation.objects.exists()
    entry = AuditEntry.objects.get(action=Action.INVITATION_ISSUED, outcome=Outcome.DENIED)
    assert entry.details == {"reason": "own_account"}


def test_a_disabled_account_cannot_use_its_link(hotel: Hotel, manager_client: Client, client_for_role: Any) -> None:
    newbie, path = create_account(hotel, manager_client)
    client_for_role(Role.IT_ADMIN).post(f"/p/{hotel.prop.code}/staff/{newbie.pk}/active/", {"active": "0"})
    assert not User.objects.get(pk=newbie.pk).is_active
    assert accept(Client(), path).status_code == 410
    assert not User.objects.get(pk=newbie.pk).has_usable_password()
    assert denied_reasons() == ["inactive"]


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"new_password1": "", "new_password2": ""}, "new_password1", "required"),
        ({"new_password1": CHOSEN, "new_password2": "something else entirely 9"}, "new_password2", "didn’t match"),
        ({"new_password1": "short", "new_password2": "short"}, "new_password2", "too short"),
        ({"new_password1": "newbie.person1", "new_password2": "newbie.person1"}, "new_password2", "similar"),
        ({"new_password1": "password1234", "new_password2": "password1234"}, "new_password2", "too common"),
    ],
)
def test_invitation_bad_input_names_the_field(
    hotel: Hotel, manager_client: Client, data: dict[str, str], field: str, fragment: str
) -> None:
    newbie, path = create_account(hotel, manager_client, username="newbie.person")
    response = Client().post(path, data)
    assert response.status_code == 400
    assert fragment in " ".join(response.context["form"].errors[field])
    assert not User.objects.get(pk=newbie.pk).has_usable_password()
    assert Invitation.objects.get(user=newbie).used_at is None  # the link still works
