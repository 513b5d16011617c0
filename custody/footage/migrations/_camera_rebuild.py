"""Shared by the migrations that rebuild footage_camera on SQLite (a name starting with _ is not a migration)."""

import importlib

from django.db import migrations

# SQLite rebuilds footage_camera to add columns and constraints, and a trigger that names the table stops the rename.
# The invariant-7 triggers (0002) are dropped for the rebuild and created again at the end, in the same migration.
_invariant7 = importlib.import_module("custody.footage.migrations.0002_camera_never_in_private_area")


def _sqlite_only(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


DROP_TRIGGERS = migrations.RunPython(
    _sqlite_only(_invariant7.SQLITE_REVERSE), _sqlite_only(_invariant7.SQLITE)
)
CREATE_TRIGGERS = migrations.RunPython(
    _sqlite_only(_invariant7.SQLITE), _sqlite_only(_invariant7.SQLITE_REVERSE)
)
