from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count

from custody.audit import gate, keys
from custody.audit.events import Action
from custody.crypto import keys as kek_keys


class Command(BaseCommand):
    help = (
        "Keys: `custody keys public` prints the audit signing public key (PEM) that verifiers need; "
        "`custody keys rotate [--wait]` adds a key-encryption key version and re-wraps every guest's data key under "
        "it (in the background, or in the foreground with --wait); `custody keys rewrap [--wait]` resumes an "
        "interrupted re-wrap; `custody keys status` shows the versions and how many data keys are under each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{public,rotate,rewrap,status}")
        sub.add_parser("public", help="print the audit signing public key and its key id")
        rotate = sub.add_parser("rotate", help="add a key-encryption key version and re-wrap every data key under it")
        rotate.add_argument("--wait", action="store_true", help="re-wrap now, with progress, instead of in the worker")
        rewrap = sub.add_parser("rewrap", help="re-wrap the data keys not yet under the current version (resume)")
        rewrap.add_argument("--wait", action="store_true", help="re-wrap now, with progress, instead of in the worker")
        sub.add_parser("status", help="current key-encryption key version and data keys under each version")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "rotate":
            self.rotate(wait=options["wait"])
        elif subcommand == "rewrap":
            self.rewrap(wait=options["wait"])
        elif subcommand == "status":
            self.status()
        else:
            public = keys.public_key()
            self.stdout.write(keys.public_key_pem(public).rstrip())
            self.stderr.write(f"key id {keys.key_id(public)} (file {keys.key_path()})")

    def rotate(self, *, wait: bool) -> None:
        version = kek_keys.add_version()
        try:
            with transaction.atomic():
                gate.record(
                    Action.KEYS_KEK_ROTATED,
                    actor=None,
                    object_type="crypto.kek",
                    object_id=version,
                    details={"version": version},
                )
        except Exception as exc:
            raise CommandError(
                f"key-encryption key version {version} was added to {kek_keys.kek_path()}, but the audit entry could "
                f"not be written ({exc}); run `custody keys rewrap` once the database is back."
            ) from exc
        self.stdout.write(f"key-encryption key version {version} is now current ({kek_keys.kek_path()}).")
        self.rewrap(wait=wait)

    def rewrap(self, *, wait: bool) -> None:
        from custody.guests import tasks

        if not wait:
            result = tasks.rewrap_data_keys.enqueue()
            self.stdout.write(
                f"re-wrap job {result.id} enqueued for {tasks.pending()} guests; `custody worker` or `custody serve` "
                "runs it. Follow it with `custody keys status`."
            )
            return

        def progress(done: int, total: int) -> None:
            percent = 100 * done // total if total else 100
            self.stderr.write(f"\rrewrapped {done}/{total} guests ({percent}%)", ending="")
            self.stderr.flush()

        summary = tasks.rewrap_all(progress=progress)
        self.stderr.write("")
        self.stdout.write(
            f"data keys under version {summary.version}: {summary.rewrapped} re-wrapped, {summary.failed} failed, "
            f"{summary.remaining} remaining."
        )
        if summary.remaining:
            raise CommandError(
                f"{summary.remaining} data keys are not under version {summary.version}; see `custody keys status`."
            )

    def status(self) -> None:
        from django_tasks_db.models import DBTaskResult

        from custody.guests import tasks
        from custody.guests.models import Guest

        current = kek_keys.current_version()
        held = kek_keys.versions()
        rows = Guest.objects.not_erased().order_by().values_list("kek_version").annotate(n=Count("id"))
        counts = {int(version): int(n) for version, n in rows.values_list("kek_version", "n") if version is not None}
        total = sum(counts.values())
        under_current = counts.get(current, 0)
        erased = Guest.objects.filter(erased_at__isnull=False).count()
        self.stdout.write(f"current version: {current}")
        self.stdout.write(f"versions held: {', '.join(str(v) for v in held)}")
        self.stdout.write("data keys by version:")
        for version in sorted(set(held) | set(counts)):
            marks = " (current)" if version == current else "" if version in held else " (NOT IN THE RING)"
            self.stdout.write(f"  version {version}: {counts.get(version, 0)} guests{marks}")
        self.stdout.write(f"erased guests (no data key): {erased}")
        percent = 100 * under_current // total if total else 100
        self.stdout.write(f"under current version: {under_current}/{total} guests ({percent}%)")
        job = DBTaskResult.objects.filter(task_path=tasks.rewrap_data_keys.module_path).order_by("-enqueued_at").first()
        if job is not None:
            self.stdout.write(f"last re-wrap job: {job.status} (enqueued {job.enqueued_at:%Y-%m-%d %H:%M:%S %Z})")
