"""Requests: approvals bind to a version (keyed digest) of the request; the organisation is sealed.

* ``AccessRequest.version``, ``content_digest``, ``field_digests``, and the grant terms fixed at submission
  (``grant_days``, ``view_quota``); ``Approval.request_digest`` and ``request_version``. One approval per person
  and version. Approvals given before this migration name no digest, so they count towards no grant: a request
  still waiting for a decision needs its approvals again (fail closed - which version they saw is not known).
* A guest lookup names guests (each with a second identifier), no longer "a booking": the type's label says so.
* The organisation an external requester names moves from a plaintext column into the sealed ``external_contact``
  JSON (key ``organisation``), under the request's data key. The key-encryption key must be readable while this
  runs on a database that has requests with an organisation.
"""

import json

from django.conf import settings
from django.db import migrations, models

TABLE = "requests_accessrequest"
REQUEST_TYPES = [
    ("footage_view", "Footage: view"),
    ("footage_export", "Footage: export"),
    ("guest_lookup", "Guest records: named guests"),
    ("stay_window", "Guest records: stays in a date window"),
    ("subject_access", "Data-subject access"),
    ("erasure", "Erasure"),
    ("rectification", "Rectification"),
]


def _dek(row):
    from custody.crypto.fields import unwrap_data_key

    return unwrap_data_key(row.wrapped_key, owner=f"requests.accessrequest:{row.pk}", kek_version=row.kek_version)


def _open_contact(dek, row):
    from custody.crypto.fields import decrypt_field

    blob = bytes(row.external_contact or b"")
    if not blob:
        return {}
    text = decrypt_field(dek, blob, table=TABLE, column="external_contact", pk=str(row.pk))
    return json.loads(text) if text else {}


def _seal_contact(dek, row, contact):
    from custody.crypto.fields import encrypt_field

    text = json.dumps(contact, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return encrypt_field(dek, text, table=TABLE, column="external_contact", pk=str(row.pk))


def seal_organisations(apps, schema_editor):
    AccessRequest = apps.get_model("requests", "AccessRequest")
    for row in AccessRequest.objects.exclude(organisation="").iterator():
        dek = _dek(row)
        contact = _open_contact(dek, row)
        contact["organisation"] = row.organisation
        AccessRequest.objects.filter(pk=row.pk).update(
            external_contact=_seal_contact(dek, row, contact), organisation=""
        )


def unseal_organisations(apps, schema_editor):
    AccessRequest = apps.get_model("requests", "AccessRequest")
    for row in AccessRequest.objects.iterator():
        dek = _dek(row)
        contact = _open_contact(dek, row)
        if "organisation" not in contact:
            continue
        organisation = contact.pop("organisation")
        AccessRequest.objects.filter(pk=row.pk).update(
            external_contact=_seal_contact(dek, row, contact), organisation=organisation[:200]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("requests", "0002_footage_alert_kinds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(seal_organisations, unseal_organisations, elidable=False),
        migrations.RemoveField(
            model_name="accessrequest",
            name="organisation",
        ),
        migrations.AlterField(
            model_name="accessrequest",
            name="external_contact",
            field=models.BinaryField(verbose_name="who asks (organisation, name, e-mail, phone)"),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="content_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="field_digests",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="grant_days",
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name="grant valid for (days)"),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="version",
            field=models.PositiveIntegerField(default=1, verbose_name="version"),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="view_quota",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="uses allowed"),
        ),
        migrations.AddField(
            model_name="approval",
            name="request_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="approval",
            name="request_version",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="accessrequest",
            name="request_type",
            field=models.CharField(choices=REQUEST_TYPES, max_length=32, verbose_name="type"),
        ),
        migrations.AlterField(
            model_name="approvalpolicy",
            name="request_type",
            field=models.CharField(choices=REQUEST_TYPES, max_length=32, verbose_name="request type"),
        ),
        migrations.RemoveConstraint(
            model_name="approval",
            name="one_approval_per_person",
        ),
        migrations.AddConstraint(
            model_name="approval",
            constraint=models.UniqueConstraint(
                condition=models.Q(("decision__in", ["approve", "narrow"])),
                fields=("request", "approver", "request_digest"),
                name="one_approval_per_person_and_version",
            ),
        ),
    ]
