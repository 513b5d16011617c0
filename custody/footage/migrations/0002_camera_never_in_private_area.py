"""Invariant 7 in the database: a camera can never sit in a private area, whatever writes the rows.

The model layer already refuses it; these triggers also stop raw SQL, bulk updates and future code paths.
"""

from django.db import migrations

MESSAGE = "custody invariant 7: a camera cannot be placed in a private area"

SQLITE = [
    f"""CREATE TRIGGER footage_camera_not_private_insert BEFORE INSERT ON footage_camera
    WHEN (SELECT area_class FROM properties_area WHERE id = NEW.area_id) = 'private'
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER footage_camera_not_private_update BEFORE UPDATE OF area_id ON footage_camera
    WHEN (SELECT area_class FROM properties_area WHERE id = NEW.area_id) = 'private'
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER properties_area_private_without_camera BEFORE UPDATE OF area_class, kind ON properties_area
    WHEN NEW.area_class = 'private' AND EXISTS (SELECT 1 FROM footage_camera WHERE area_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS footage_camera_not_private_insert",
    "DROP TRIGGER IF EXISTS footage_camera_not_private_update",
    "DROP TRIGGER IF EXISTS properties_area_private_without_camera",
]

POSTGRES = [
    f"""CREATE FUNCTION custody_camera_not_private() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT area_class FROM properties_area WHERE id = NEW.area_id) = 'private' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER footage_camera_not_private BEFORE INSERT OR UPDATE OF area_id ON footage_camera
    FOR EACH ROW EXECUTE FUNCTION custody_camera_not_private()""",
    f"""CREATE FUNCTION custody_area_private_without_camera() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.area_class = 'private' AND EXISTS (SELECT 1 FROM footage_camera WHERE area_id = NEW.id) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER properties_area_private_without_camera BEFORE UPDATE OF area_class, kind ON properties_area
    FOR EACH ROW EXECUTE FUNCTION custody_area_private_without_camera()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS footage_camera_not_private ON footage_camera",
    "DROP FUNCTION IF EXISTS custody_camera_not_private()",
    "DROP TRIGGER IF EXISTS properties_area_private_without_camera ON properties_area",
    "DROP FUNCTION IF EXISTS custody_area_private_without_camera()",
]


def _run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("footage", "0001_initial"), ("properties", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}),
        ),
    ]
