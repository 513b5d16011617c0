from django.db import migrations

from custody.audit import triggers


def create(apps, schema_editor):
    triggers.apply(schema_editor.connection, triggers.CREATE)


def drop(apps, schema_editor):
    triggers.apply(schema_editor.connection, triggers.DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
