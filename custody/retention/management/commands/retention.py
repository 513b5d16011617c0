"""`custody retention run [--property CODE] [--dry-run]` and `custody retention holds`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.properties.models import Property
from custody.retention import holds
from custody.retention.retention import iso_utc, run_footage_retention


class Command(BaseCommand):
    help = (
        "Footage retention: `custody retention run [--property CODE] [--dry-run]` destroys segments past their "
        "camera's retention unless a legal hold or a request keeps them, writing a destruction record (the worker "
        "runs it daily); `custody retention holds [--property CODE]` lists the active legal holds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{run,holds}")
        run = sub.add_parser("run", help="destroy expired, unheld footage now")
        run.add_argument("--property", metavar="CODE", help="only this property (default: all)")
        run.add_argument("--dry-run", action="store_true", help="count what would be destroyed; change nothing")
        listing = sub.add_parser("holds", help="list the active legal holds")
        listing.add_argument("--property", metavar="CODE", help="only this property (default: all)")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        prop = self._property(options.get("property"))
        if subcommand == "holds":
            self.list_holds(prop)
        else:
            self.run(prop, dry_run=options["dry_run"])

    def _property(self, code: str | None) -> Property | None:
        if not code:
            return None
        prop = Property.objects.filter(code=code).first()
        if prop is None:
            raise CommandError(f"--property: no property with code {code!r}.")
        return prop

    def run(self, prop: Property | None, *, dry_run: bool) -> None:
        report = run_footage_retention(prop, dry_run=dry_run, progress=lambda line: self.stderr.write(line))
        for run in report.runs:
            label = "disk pressure" if run.kind == "disk_pressure" else "retention"
            for camera in run.cameras.values():
                if dry_run:
                    self.stdout.write(
                        f"{run.code} {camera.code} (keep {camera.retention_days} d, cutoff {camera.cutoff}): "
                        f"would destroy {camera.due} ({camera.due_bytes} bytes), held {camera.held}"
                    )
                else:
                    self.stdout.write(
                        f"{run.code} {camera.code} [{label}] (keep {camera.retention_days} d, cutoff "
                        f"{camera.cutoff}): destroyed {camera.destroyed} ({camera.missing} already missing, "
                        f"{camera.bytes} bytes), held {camera.held}, failed {camera.failed}"
                    )
            if run.record_id:
                self.stdout.write(f"{run.code}: destruction record {run.record_id}")
        for check in report.disk:
            self.stdout.write(
                f"{check.code}: storage {check.location} was {check.free_percent:.1f}% free (threshold "
                f"{check.threshold:g}%), now {check.after_percent:.1f}%"
                + ("; only held footage is left" if check.only_held_left else "")
            )
        for code in report.busy:
            self.stdout.write(f"{code}: another retention run is in progress; skipped")
        verb = "would destroy" if dry_run else "destroyed"
        count = report.due if dry_run else report.destroyed
        self.stdout.write(f"total: {verb} {count} segments, held {report.held}, failed {report.failed}")
        if report.failed:
            raise CommandError(f"{report.failed} segment files could not be deleted; see the destruction record.")

    def list_holds(self, prop: Property | None) -> None:
        rows = holds.active_holds(prop).prefetch_related("cameras").order_by("property__code", "set_at")
        count = 0
        for hold in rows:
            count += 1
            cameras = ",".join(sorted(c.code for c in hold.cameras.all()))
            self.stdout.write(
                f"{hold.property.code} {hold.case_reference} {hold.pk} cameras={cameras} "
                f"from={iso_utc(hold.window_start)} "
                f"until={iso_utc(hold.window_end)} "
                f"set_by={hold.set_by.username} set_at={hold.set_at:%Y-%m-%d %H:%M}"
            )
        self.stdout.write(f"{count} active legal holds")
