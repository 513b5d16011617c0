"""Database triggers that make the audit tables append-only on SQLite and PostgreSQL (invariant 3).

Anyone who owns the database can still drop a trigger; that is why entries are also hashed into a Merkle
tree whose signed heads `custody audit verify` checks. The triggers stop the everyday paths: the ORM, a
stray UPDATE in a SQL console, a bulk delete, a TRUNCATE.
"""

from __future__ import annotations

TABLES = ("audit_auditentry", "audit_treehead")
MESSAGE = "custody invariant 3: the audit log is append-only"


def sqlite_create() -> list[str]:
    statements = []
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    return statements


def sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for table in TABLES for verb in ("update", "delete")]


def postgres_create() -> list[str]:
    statements = [
        f"""CREATE OR REPLACE FUNCTION custody_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
        END $$"""
    ]
    for table in TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION custody_audit_append_only()"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION custody_audit_append_only()"
        )
    return statements


def postgres_drop() -> list[str]:
    statements = []
    for table in TABLES:
        statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        statements.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    statements.append("DROP FUNCTION IF EXISTS custody_audit_append_only()")
    return statements


CREATE = {"sqlite": sqlite_create, "postgresql": postgres_create}
DROP = {"sqlite": sqlite_drop, "postgresql": postgres_drop}


def apply(connection: object, statements_by_vendor: dict[str, object]) -> None:
    vendor = connection.vendor  # type: ignore[attr-defined]
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        for statement in statements_by_vendor[vendor]():  # type: ignore[operator]
            cursor.execute(statement)
