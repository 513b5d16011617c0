"""Registrations are legal records: the database refuses UPDATE on them (SQLite and PostgreSQL)."""

from django.db import migrations

from custody.guests import triggers


def _run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, lambda: [])():
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("guests", "0001_initial")]

    operations = [migrations.RunPython(_run(triggers.CREATE), _run(triggers.DROP))]
