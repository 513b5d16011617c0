"""The `custody` command: Custody's own subcommands, with Django's management commands passed through."""

from __future__ import annotations

import os
import sys

COMMANDS = {
    # name on the command line: (management command, one-line description)
    "serve": ("serve", "serve the web UI with an in-process background worker [--host --port]"),
    "worker": ("worker", "run a background worker (run several for more throughput)"),
    "migrate": ("migrate", "create or update the database tables"),
    "seed-demo": ("seed_demo", "create the demo hotel and print its logins (idempotent)"),
    "createuser": ("createuser", "create a staff user: createuser NAME --role ROLE [--property CODE]"),
    "createproperty": ("createproperty", "create a property (hotel)"),
    "audit": ("audit", "audit log: verify [--tree-head FILE], export [--since SEQ], head, sign"),
    "keys": ("keys", "keys: public (audit signing key), rotate [--wait], rewrap [--wait], status (key-encryption key)"),
    "import": ("import", "import stays FILE.csv --property CODE [--map H=F] [--dry-run]: PMS export"),
    "ingest": ("ingest", "ingest PATH... [--camera CODE] [--layout frigate|pattern]: index NVR footage"),
    "evidence": ("evidence", "evidence verify PACKAGE.zip [--public-key FILE]: check an evidence package offline"),
    "retention": ("retention", "retention run [--property CODE] [--dry-run] | holds: footage retention, legal holds"),
    "api-token": ("api_token", "api-token create|list|revoke: bearer tokens for /api/v1/"),
    "check": ("check", "check the configuration (add --deploy for production checks)"),
}

USAGE = """usage: custody COMMAND [options]

Custody keeps a hotel's guest records and CCTV footage, and governs every read of them.

Commands:
{commands}

Any other Django management command is passed through (for example `custody shell`).
Run `custody COMMAND --help` for a command's options.
Configuration comes from the environment: CUSTODY_HOME, DATABASE_URL, CUSTODY_SECRET_KEY[_FILE], ...
(see docs/deployment.md)."""


def usage() -> str:
    lines = "\n".join(f"  {name:<15} {description}" for name, (_, description) in COMMANDS.items())
    return USAGE.format(commands=lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] in {"--version", "version"}:
        from custody import __version__

        print(f"custody {__version__}")
        return 0
    name = args[0]
    # Everything Custody writes (database, keys, uploads, exports) is for this user only.
    os.umask(0o077)
    command = COMMANDS[name][0] if name in COMMANDS else name.replace("-", "_")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custody.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as exc:
        print(f"custody: configuration error: {exc}", file=sys.stderr)
        return 2
    from django.core.management import execute_from_command_line

    from custody.audit.log import signed_on_exit

    # A command that wrote audit entries leaves them under a signed tree head (and in the anchor file), so
    # deleting them afterwards is caught without waiting for the worker, which may not even be running.
    with signed_on_exit():
        execute_from_command_line(["custody", command, *args[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
