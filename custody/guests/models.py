"""The guest registry: guests, identity documents, stays, registrations and their blind indexes.

Nothing personal is stored in plaintext (DESIGN invariant 2). Every personal field is a BinaryField that holds an
AES-256-GCM blob (``custody.crypto.fields``) under the data key of one guest, with AAD = (database table, database
column, primary key of the row), so a blob moved to another row, column or table does not decrypt. Only
``custody.guests.vault`` encrypts and decrypts these columns; nothing else reads them.

* Primary keys are UUIDs generated in Python, so the key is known before the row's fields are encrypted (it is part
  of the AAD) and ids in URLs and audit entries say nothing about how many guests a hotel has.
* Every encrypted column always holds a blob, an empty value included (the format pads to 16 bytes, so "" looks like
  any short value): whether a guest has special needs or notes does not show in the database.
* Dates of a stay, its room and status are kept in plain columns: they say nothing about a person on their own, and
  the front desk lists and retention need them in queries. The guest's date of birth is personal and encrypted.
* A guest's data key is stored only wrapped by the key-encryption key (``wrapped_key`` + ``kek_version``). Erasing a
  guest destroys it (crypto-shredding): the guest's fields, documents and registrations become unreadable and the
  guest's blind indexes are deleted. A backup taken before the erasure still holds the wrapped key; it opens only
  while the key-encryption key version it was wrapped under is kept, so retiring that version after a rotation
  shreds the guest in old backups too.
* Deleting rows is not how personal data goes away here, so foreign keys PROTECT. Only blind index rows, which are
  derived data, cascade with the guest or stay they point to.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.crypto.blind_index import INDEX_BYTES
from custody.properties.models import Property, Room


def encrypted(verbose_name: Any) -> models.BinaryField:
    """A column holding one AES-256-GCM blob (never plaintext); written and read by custody.guests.vault only."""
    return models.BinaryField(verbose_name, editable=False)


class ImmutableRecord(Exception):
    """A registration is a legal record: once written it is never changed."""


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other or unspecified")


class DocumentType(models.TextChoices):
    NATIONAL_ID = "national_id", _("National identity card")
    PASSPORT = "passport", _("Passport")
    RESIDENCE_PERMIT = "residence_permit", _("Residence permit")
    OTHER = "other", _("Other document")


class StayStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    IN_HOUSE = "in_house", _("In house")
    CHECKED_OUT = "checked_out", _("Checked out")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


class Channel(models.TextChoices):
    DIRECT = "direct", _("Direct")
    WALK_IN = "walk_in", _("Walk-in")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    WEBSITE = "website", _("Hotel website")
    OTA = "ota", _("Online travel agency")
    TRAVEL_AGENT = "travel_agent", _("Travel agent")
    CORPORATE = "corporate", _("Corporate")
    GROUP = "group", _("Group")
    OTHER = "other", _("Other channel")


class IndexKind(models.TextChoices):
    NAME = "name", _("Name")
    ID_NUMBER = "id_number", _("ID number")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    BOOKING_REFERENCE = "booking_reference", _("Booking reference")


class GuestQuerySet(models.QuerySet["Guest"]):
    def not_erased(self) -> GuestQuerySet:
        return self.filter(erased_at__isnull=True)


class Guest(models.Model):
    """A person who stays or stayed at the property. Each guest's fields are encrypted under their own data key."""

    ENCRYPTED_FIELDS: ClassVar[tuple[str, ...]] = (
        "surname", "second_surname", "given_names", "sex", "date_of_birth", "nationality", "address", "phone",
        "email", "preferences", "special_needs", "notes", "consents",
    )  # fmt: skip

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="guests")
    wrapped_key = models.BinaryField(
        _("wrapped data key"), null=True, editable=False, help_text=_("Empty once the guest is erased.")
    )
    kek_version = models.PositiveIntegerField(_("key-encryption key version"), null=True, db_index=True)
    surname = encrypted(_("surname"))
    second_surname = encrypted(_("second surname"))
    given_names = encrypted(_("given names"))
    sex = encrypted(_("sex"))
    date_of_birth = encrypted(_("date of birth"))  # ISO 8601 text, YYYY-MM-DD
    nationality = encrypted(_("nationality"))
    address = encrypted(_("address"))
    phone = encrypted(_("phone"))
    email = encrypted(_("e-mail"))
    preferences = encrypted(_("preferences"))
    special_needs = encrypted(_("special needs"))
    notes = encrypted(_("notes"))
    consents = encrypted(_("consents"))  # canonical JSON text of an object
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)

    objects = GuestQuerySet.as_manager()

    class Meta:
        verbose_name = _("guest")
        verbose_name_plural = _("guests")
        ordering = ["created_at", "id"]
        constraints = [
            # An erased guest has no data key left; every other guest has one.
            models.CheckConstraint(
                condition=models.Q(erased_at__isnull=True, wrapped_key__isnull=False, kek_version__isnull=False)
                | models.Q(erased_at__isnull=False, wrapped_key__isnull=True, kek_version__isnull=True),
                name="guest_key_unless_erased",
            )
        ]

    def __str__(self) -> str:
        return f"guest {self.pk}"  # never a name: str() ends up in logs and templates

    @builtins.property
    def key_owner(self) -> str:
        """The owner string bound into the wrapped data key's AAD (custody.crypto.fields.wrap_data_key)."""
        return f"guests.guest:{self.pk}"

    @builtins.property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class IdentityDocument(models.Model):
    """An identity document shown by a guest; encrypted under the guest's data key."""

    ENCRYPTED_FIELDS: ClassVar[tuple[str, ...]] = (
        "doc_type", "number", "issuing_country", "issue_date", "expiry_date", "support_number",
    )  # fmt: skip

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    guest = models.ForeignKey(Guest, on_delete=models.PROTECT, related_name="documents")
    doc_type = encrypted(_("document type"))  # a DocumentType value
    number = encrypted(_("document number"))
    issuing_country = encrypted(_("issuing country"))
    issue_date = encrypted(_("issue date"))  # ISO 8601 text or empty
    expiry_date = encrypted(_("expiry date"))  # ISO 8601 text or empty
    support_number = encrypted(_("support number"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("identity document")
        verbose_name_plural = _("identity documents")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"identity document {self.pk}"


class Stay(models.Model):
    """One booking at the property: a primary guest, companions, a room and dates.

    The booking reference and special requests are encrypted under the *primary guest's* data key: both describe the
    person who booked, so erasing that guest shreds them too. That is why the primary guest is fixed when the stay is
    created.
    """

    ENCRYPTED_FIELDS: ClassVar[tuple[str, ...]] = ("booking_reference", "special_requests")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="stays")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="stays", null=True, blank=True)
    primary_guest = models.ForeignKey(Guest, on_delete=models.PROTECT, related_name="primary_stays")
    companions: models.ManyToManyField[Guest, StayGuest] = models.ManyToManyField(
        Guest, through="StayGuest", related_name="companion_stays", blank=True
    )
    booking_reference = encrypted(_("booking reference"))
    check_in_planned = models.DateField(_("planned check-in"))
    check_out_planned = models.DateField(_("planned check-out"))
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=StayStatus.choices, default=StayStatus.BOOKED)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.DIRECT)
    special_requests = encrypted(_("special requests"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stay")
        verbose_name_plural = _("stays")
        ordering = ["check_in_planned", "id"]
        indexes = [
            models.Index(fields=["property", "check_in_planned"], name="guests_stay_arrivals"),
            models.Index(fields=["property", "check_out_planned"], name="guests_stay_departures"),
            models.Index(fields=["property", "status"], name="guests_stay_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=StayStatus.values), name="stay_status_known"),
            models.CheckConstraint(condition=models.Q(channel__in=Channel.values), name="stay_channel_known"),
            models.CheckConstraint(
                condition=models.Q(check_out_planned__gte=models.F("check_in_planned")), name="stay_planned_order"
            ),
            models.CheckConstraint(
                condition=models.Q(checked_in_at__isnull=True)
                | models.Q(checked_out_at__isnull=True)
                | models.Q(checked_out_at__gte=models.F("checked_in_at")),
                name="stay_actual_order",
            ),
            # A room holds one in-house stay at a time (the vault says so first, naming the field; this catches races).
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(status="in_house"), name="one_in_house_stay_per_room"
            ),
        ]

    def __str__(self) -> str:
        return f"stay {self.pk}"

    def guest_ids(self) -> list[uuid.UUID]:
        """The primary guest first, then the companions."""
        companions = self.stay_guests.order_by("added_at", "id").values_list("guest_id", flat=True)
        return [self.primary_guest_id, *companions]


class StayGuest(models.Model):
    """A companion of a stay's primary guest (a further guest sharing the booking)."""

    stay = models.ForeignKey(Stay, on_delete=models.PROTECT, related_name="stay_guests")
    guest = models.ForeignKey(Guest, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("companion")
        verbose_name_plural = _("companions")
        constraints = [models.UniqueConstraint(fields=["stay", "guest"], name="unique_stay_guest")]

    def __str__(self) -> str:
        return f"guest {self.guest_id} in stay {self.stay_id}"


class Registration(models.Model):
    """The legal check-in record of one guest of a stay: an encrypted snapshot that is never updated.

    ``payload`` is the JSON of the fields as registered, encrypted under the guest's data key. ``save()`` refuses to
    update a stored row and database triggers refuse UPDATE (migration 0002). A correction is a new registration;
    the latest one of a guest and stay is the current record.
    """

    ENCRYPTED_FIELDS: ClassVar[tuple[str, ...]] = ("payload",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stay = models.ForeignKey(Stay, on_delete=models.PROTECT, related_name="registrations")
    guest = models.ForeignKey(Guest, on_delete=models.PROTECT, related_name="registrations")
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    payload = encrypted(_("registration record"))

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"registration {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise ImmutableRecord(f"registration {self.pk} is an immutable record; write a new one to correct it.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)


class BlindIndex(models.Model):
    """A keyed, truncated HMAC of one normalized searchable value (custody.crypto.blind_index), never the value.

    Kinds and what is indexed: ``name`` - the guest's surname and given names combined (``vault.name_text``);
    ``id_number`` - each identity document's number; ``phone``, ``email`` - the guest's; ``booking_reference`` -
    the stay's (``stay`` set, ``guest`` = its primary guest, so erasing that guest removes it too).
    """

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=IndexKind.choices)
    digest = models.BinaryField(max_length=INDEX_BYTES)
    guest = models.ForeignKey(Guest, on_delete=models.CASCADE, null=True, related_name="blind_indexes")
    stay = models.ForeignKey(Stay, on_delete=models.CASCADE, null=True, related_name="blind_indexes")

    class Meta:
        indexes = [models.Index(fields=["property", "kind", "digest"], name="guests_blindindex_lookup")]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=IndexKind.values), name="blind_index_kind_known"),
            models.CheckConstraint(
                condition=models.Q(guest__isnull=False) | models.Q(stay__isnull=False), name="blind_index_points"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} index {self.pk}"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    CHECKED = "checked", _("Checked")
    RUNNING = "running", _("Importing")
    COMMITTED = "committed", _("Imported")
    FAILED = "failed", _("Failed")
    DISCARDED = "discarded", _("Discarded")


class StayImport(models.Model):
    """One PMS stay export being imported (``custody.guests.imports``): its state, counts and error report.

    The uploaded file holds personal data, so it is kept only encrypted: ``upload`` is the decoded text, AES-256-GCM
    under a fresh data key of its own (wrapped by the key-encryption key, AAD = table, column, primary key), and it
    is destroyed - blob and wrapped key - once the import is committed or discarded, or 24 hours after the upload.
    ``errors`` holds row numbers, field names and reason codes only, never a cell's value; ``mapping`` holds our
    field name for each column of the file ("" for a column left out).
    """

    ENCRYPTED_FIELDS: ClassVar[tuple[str, ...]] = ("upload",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="stay_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    committed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    size_bytes = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=16, blank=True)
    columns = models.PositiveIntegerField(_("columns"), default=0)
    mapping = models.JSONField(_("column mapping"), default=list, blank=True)
    wrapped_key = models.BinaryField(_("wrapped data key"), null=True, editable=False)
    kek_version = models.PositiveIntegerField(_("key-encryption key version"), null=True)
    upload = models.BinaryField(_("uploaded file (encrypted)"), null=True, editable=False)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    rows_to_write = models.PositiveIntegerField(_("rows to write"), default=0)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    created_count = models.PositiveIntegerField(_("stays created"), default=0)
    existing_count = models.PositiveIntegerField(_("stays already present"), default=0)
    duplicate_count = models.PositiveIntegerField(_("repeated rows"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    errors = models.JSONField(_("error report"), default=list, blank=True)
    failure = models.CharField(_("failure"), max_length=32, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    purged_at = models.DateTimeField(_("upload destroyed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stay import")
        verbose_name_plural = _("stay imports")
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ImportStatus.values), name="stay_import_status_known"),
            # The encrypted upload and its wrapped key exist together, and are gone together.
            models.CheckConstraint(
                condition=models.Q(upload__isnull=True, wrapped_key__isnull=True, kek_version__isnull=True)
                | models.Q(upload__isnull=False, wrapped_key__isnull=False, kek_version__isnull=False),
                name="stay_import_upload_with_key",
            ),
        ]

    def __str__(self) -> str:
        return f"stay import {self.pk}"

    @builtins.property
    def key_owner(self) -> str:
        """The owner string bound into the wrapped data key's AAD (custody.crypto.fields.wrap_data_key)."""
        return f"guests.stayimport:{self.pk}"

    @builtins.property
    def has_upload(self) -> bool:
        return self.wrapped_key is not None
