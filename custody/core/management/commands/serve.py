from __future__ import annotations

import ipaddress
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from custody.core.worker import CustodyWorker


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise CommandError(f"--port {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise CommandError(f"--port {port} is out of range 1-65535")
    return port


class Command(BaseCommand):
    help = "Serve the Custody web UI with an in-process background worker (waitress WSGI server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", default="8000", help="port to listen on (default 8000)")
        parser.add_argument("--threads", type=int, default=8, help="web request threads (default 8)")
        parser.add_argument("--no-worker", action="store_true", help="do not run a background worker in-process")
        parser.add_argument(
            "--trusted-proxy",
            metavar="ADDR",
            default=None,
            help="address of the TLS-terminating reverse proxy whose X-Forwarded-For/-Proto headers to believe",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port = _port(options["port"])
        if host not in {"localhost"}:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise CommandError(f"--host {host!r} is not an IP address") from None
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database has unapplied migrations; run `custody migrate` first.")
        worker = None
        if not options["no_worker"]:
            worker = CustodyWorker(in_process=True)
            worker.start_in_threads()
        from waitress import serve

        from custody.wsgi import application

        proxy: dict[str, Any] = {}
        if options["trusted_proxy"]:
            try:
                ipaddress.ip_address(options["trusted_proxy"])
            except ValueError:
                raise CommandError(f"--trusted-proxy {options['trusted_proxy']!r} is not an IP address") from None
            proxy = {
                "trusted_proxy": options["trusted_proxy"],
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            }
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(f"Custody is serving on http://{shown}:{port}/ (Ctrl+C stops it)")
        try:
            serve(application, host=host, port=port, threads=options["threads"], ident="custody", **proxy)
        finally:
            if worker is not None:
                worker.stop()
