"""Key rotation: `custody keys rotate` adds a KEK version, a resumable job re-wraps every live guest's data key under
it, and every guest stays readable before, during and after."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from custody.accounts.models import User
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.crypto import keys
from custody.guests import tasks, vault
from custody.guests.models import Guest
from custody.properties.models import Property
from tests.authorities import readback
from tests.conftest import Hotel

pytestmark = [pytest.mark.usefixtures("fresh_keys")]

FIELDS = ["surname", "given_names", "phone", "notes"]


def make_guests(prop: Property, clerk: User, count: int) -> list[Guest]:
    return [
        vault.create_guest(
            prop,
            {"surname": f"Pérez{i}", "given_names": f"王 {i}", "phone": f"+34 600 000 {i:03d}", "notes": f"note {i}"},
            acting_user=clerk,
        )
        for i in range(count)
    ]


def snapshot(prop: Property, clerk: User) -> dict[str, dict[str, str]]:
    """Every live guest's fields, decrypted through the vault."""
    return {
        str(guest.pk): vault.read_guest(guest, FIELDS, authority=readback(prop)) for guest in Guest.objects.not_erased()
    }


def ciphertexts() -> dict[str, tuple[bytes, ...]]:
    return {
        str(guest.pk): tuple(bytes(getattr(guest, name)) for name in Guest.ENCRYPTED_FIELDS)
        for guest in Guest.objects.all()
    }


def versions_of_live_guests() -> list[int | None]:
    return list(Guest.objects.not_erased().values_list("kek_version", flat=True))


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def population(hotel: Hotel, desk_clerk: User) -> tuple[list[Guest], Guest]:
    """Seven live guests and one erased guest, all under KEK version 1."""
    guests = make_guests(hotel.prop, desk_clerk, 8)
    erased = vault.erase_guest(guests.pop(), acting_user=desk_clerk)
    assert keys.current_version() == 1
    return guests, erased


@pytest.mark.django_db
def test_rotation_keeps_every_guest_readable_before_during_and_after(
    hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]
) -> None:
    before = snapshot(hotel.prop, desk_clerk)
    fields_before = ciphertexts()

    out, _ = run_command("rotate")
    assert "version 2 is now current" in out
    assert keys.current_version() == 2 and keys.versions() == [1, 2]
    assert snapshot(hotel.prop, desk_clerk) == before  # rotated, nothing re-wrapped yet: all still under version 1

    first = tasks.rewrap_batch(size=3)  # half the batches (of 7 guests in batches of 3: 3, 3, 1)
    assert (first.rewrapped, first.failed) == (3, 0)
    assert sorted(versions_of_live_guests(), key=str) == [1, 1, 1, 1, 2, 2, 2]
    assert snapshot(hotel.prop, desk_clerk) == before  # mixed versions: each row opens with its own

    summary = tasks.rewrap_all(size=3)
    assert (summary.version, summary.rewrapped, summary.failed, summary.remaining) == (2, 4, 0, 0)
    assert set(versions_of_live_guests()) == {2}
    assert snapshot(hotel.prop, desk_clerk) == before
    assert ciphertexts() == fields_before  # rotation re-wraps data keys; field ciphertexts do not change


@pytest.mark.django_db
def test_erased_guests_are_untouched(hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]) -> None:
    _, erased = population
    keys.add_version()
    tasks.rewrap_all()
    row = Guest.objects.get(pk=erased.pk)
    assert row.wrapped_key is None and row.kek_version is None and row.erased_at == erased.erased_at
    with pytest.raises(vault.GuestErased):
        vault.read_guest(row, ["surname"], authority=readback(hotel.prop))


@pytest.mark.django_db
def test_rerun_is_a_no_op(hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]) -> None:
    keys.add_version()
    tasks.rewrap_all()
    wrapped = dict(Guest.objects.values_list("pk", "wrapped_key"))
    again = tasks.rewrap_all()
    assert (again.rewrapped, again.failed, again.remaining) == (0, 0, 0)
    assert tasks.rewrap_batch().done
    assert {pk: bytes(w) if w is not None else None for pk, w in Guest.objects.values_list("pk", "wrapped_key")} == {
        pk: bytes(w) if w is not None else None for pk, w in wrapped.items()
    }


@pytest.mark.django_db
def test_killed_run_resumes(hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]) -> None:
    before = snapshot(hotel.prop, desk_clerk)
    keys.add_version()
    tasks.rewrap_batch(size=2)  # the worker is killed after one batch
    assert tasks.pending() == 5

    out, err = run_command("rewrap", "--wait")  # started again: it continues with the five left
    assert "3 re-wrapped" not in out and "5 re-wrapped, 0 failed, 0 remaining" in out
    assert "\rrewrapped 0/5 guests (0%)" in err and "\rrewrapped 5/5 guests (100%)" in err
    assert tasks.pending() == 0
    assert snapshot(hotel.prop, desk_clerk) == before


@pytest.mark.django_db
def test_rotate_wait_shows_progress_and_audits(
    hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]
) -> None:
    before = snapshot(hotel.prop, desk_clerk)
    out, err = run_command("rotate", "--wait")
    assert "7 re-wrapped, 0 failed, 0 remaining" in out
    assert "rewrapped 7/7 guests (100%)" in err
    assert set(versions_of_live_guests()) == {2}
    assert not DBTaskResult.objects.exists()  # --wait runs in the foreground, nothing is enqueued
    assert snapshot(hotel.prop, desk_clerk) == before

    entries = list(AuditEntry.objects.filter(action=Action.KEYS_KEK_ROTATED).order_by("seq"))
    assert [entry.details for entry in entries] == [
        {"version": 2},
        {"version": 2, "phase": "rewrapped", "rewrapped": 7, "failed": 0, "remaining": 0},
    ]
    assert all(entry.object_type == "crypto.kek" and entry.object_id == "2" for entry in entries)
    assert all(entry.actor_id is None for entry in entries)


@pytest.mark.django_db
def test_rotate_enqueues_the_job_and_status_counts(
    hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]
) -> None:
    out, _ = run_command("status")
    assert "current version: 1" in out and "versions held: 1\n" in out
    assert "  version 1: 7 guests (current)" in out
    assert "erased guests (no data key): 1" in out
    assert "under current version: 7/7 guests (100%)" in out

    out, _ = run_command("rotate")
    assert "enqueued for 7 guests" in out
    job = DBTaskResult.objects.get()
    assert job.task_path == "custody.guests.tasks.rewrap_data_keys" and job.status == "READY"
    assert AuditEntry.objects.filter(action=Action.KEYS_KEK_ROTATED, details={"version": 2}).count() == 1

    tasks.rewrap_batch(size=3)
    out, _ = run_command("status")
    assert "current version: 2" in out and "versions held: 1, 2\n" in out
    assert "  version 1: 4 guests\n" in out and "  version 2: 3 guests (current)" in out
    assert "under current version: 3/7 guests (42%)" in out
    assert "last re-wrap job: READY" in out

    assert tasks.rewrap_data_keys.call() == {
        "version": 2, "phase": "rewrapped", "rewrapped": 4, "failed": 0, "remaining": 0,
    }  # fmt: skip
    out, _ = run_command("status")
    assert "  version 1: 0 guests\n" in out and "  version 2: 7 guests (current)" in out
    assert "under current version: 7/7 guests (100%)" in out


@pytest.mark.django_db
def test_a_data_key_that_does_not_unwrap_is_counted_and_skipped(
    hotel: Hotel, desk_clerk: User, population: tuple[list[Guest], Guest]
) -> None:
    guests, _ = population
    Guest.objects.filter(pk=guests[0].pk).update(wrapped_key=b"\x01" + b"\x00" * 60)
    keys.add_version()
    summary = tasks.rewrap_all(size=2)
    assert (summary.rewrapped, summary.failed, summary.remaining) == (6, 1, 1)
    with pytest.raises(Exception, match="1 data keys are not under version 2"):
        run_command("rewrap", "--wait")


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_rotation_job(hotel: Hotel, desk_clerk: User) -> None:
    from custody.core.worker import CustodyWorker

    make_guests(hotel.prop, desk_clerk, 3)
    before = snapshot(hotel.prop, desk_clerk)
    run_command("rotate")
    worker = CustodyWorker(interval=0.1, in_process=True)
    worker.job_worker.batch = True
    worker.job_worker.run()
    job = DBTaskResult.objects.get()
    assert job.status == "SUCCESSFUL", job.exception_class_path
    assert job.return_value["rewrapped"] == 3
    assert set(versions_of_live_guests()) == {2}
    assert snapshot(hotel.prop, desk_clerk) == before
