"""The migration that seals the organisation: rows written before it keep their organisation, sealed with the contact
under the request's own key; no plaintext is left in the row."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from custody.crypto.fields import encrypt_field, new_data_key, wrap_data_key
from custody.requests import actions
from custody.requests.models import AccessRequest

BEFORE = [("requests", "0002_footage_alert_kinds")]
AFTER = [("requests", "0003_request_versions_sealed_organisation")]
TABLE = "requests_accessrequest"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_keys")
def test_existing_organisations_are_sealed_with_the_contact() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    prop = apps.get_model("properties", "Property").objects.create(
        code="old", name="Old Hotel", timezone="Europe/Madrid", jurisdiction="ES"
    )
    user = apps.get_model("accounts", "User").objects.create(username="filer")
    pk = uuid.uuid4()
    dek = new_data_key()
    wrapped, version = wrap_data_key(dek, owner=f"requests.accessrequest:{pk}")

    def seal(column: str, text: str) -> bytes:
        return encrypt_field(dek, text, table=TABLE, column=column, pk=str(pk))

    apps.get_model("requests", "AccessRequest").objects.create(
        id=pk, property=prop, number="R-2025-00001", request_type="footage_view", requester=user,
        requester_kind="authority", organisation="Comisaría Canary-Org", purpose="law_enforcement",
        legal_basis="legal_obligation", wrapped_key=wrapped, kek_version=version,
        external_contact=seal("external_contact", json.dumps({"name": "Inspector Ruiz"})),
        purpose_text=seal("purpose_text", ""), instrument_reference=seal("instrument_reference", ""),
        instrument_file=seal("instrument_file", ""), instrument_name=seal("instrument_name", ""),
        guest_scope=seal("guest_scope", "[]"),
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    row = AccessRequest.objects.filter(pk=pk).values().get()
    assert "organisation" not in row
    stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row.values())
    assert b"Canary-Org" not in stored
    data = actions.request_data(AccessRequest.objects.get(pk=pk))
    assert (data.organisation, data.contact) == ("Comisaría Canary-Org", {"name": "Inspector Ruiz"})
