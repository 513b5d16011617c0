"""Database triggers that make registrations immutable on SQLite and PostgreSQL.

``Registration.save()`` already refuses to update a stored row; these triggers also stop bulk updates through the
ORM, raw SQL and future code paths. DELETE stays possible: retention destroys registrations once the legal period
ends, and that destruction is recorded in the audit log.
"""

from __future__ import annotations

TABLE = "guests_registration"
MESSAGE = "custody: a registration is an immutable record"


def sqlite_create() -> list[str]:
    return [f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"]


def sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {TABLE}_no_update"]


def postgres_create() -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION custody_registration_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
        END $$""",
        f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION custody_registration_immutable()",
    ]


def postgres_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update ON {TABLE}",
        "DROP FUNCTION IF EXISTS custody_registration_immutable()",
    ]


CREATE = {"sqlite": sqlite_create, "postgresql": postgres_create}
DROP = {"sqlite": sqlite_drop, "postgresql": postgres_drop}
