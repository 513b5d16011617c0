"""`custody ingest PATH... [--camera CODE] [--layout frigate|pattern] [--pattern P] [--property CODE]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.footage import ingest
from custody.properties.models import Property

NOTHING_READ_EXIT = 1
USAGE_EXIT = 2


class Command(BaseCommand):
    help = (
        "Index NVR recordings where they lie (files are never moved or changed): hash each file (SHA-256), read its "
        "real duration, codec and size with PyAV, and list recording gaps. Unreadable, truncated, empty or non-video "
        "files and unknown cameras are quarantined with a reason; ingest goes on. Re-running adds nothing. "
        "Exit 0, or 1 when nothing could be read, 2 for a missing path or bad option (see docs/footage.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
        parser.add_argument("--property", help="code of the property (needed when there are several)")
        parser.add_argument("--camera", help="camera code for every file (overrides {camera} in the layout)")
        parser.add_argument(
            "--layout",
            choices=["frigate", "pattern"],
            default="frigate",
            help="frigate: recordings/YYYY-MM-DD/HH/<camera>/MM.SS.mp4 in UTC (default)",
        )
        parser.add_argument("--pattern", help="with --layout pattern: e.g. '{camera}/%%Y%%m%%d/%%H%%M%%S.mp4'")
        parser.add_argument("--timezone", default="UTC", help="time zone of the times in --pattern names (UTC)")
        parser.add_argument(
            "--min-gap",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="a gap is more than this between one segment's end and the next start (2)",
        )
        parser.add_argument("--jobs", type=int, default=4, help="files read in parallel (4)")

    def handle(self, *args: Any, **options: Any) -> None:
        paths = [Path(p) for p in options["paths"]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}", returncode=USAGE_EXIT)
        prop = self._property(options["property"])
        if options["layout"] == "frigate":
            if options["pattern"]:
                raise CommandError("--pattern needs --layout pattern.", returncode=USAGE_EXIT)
            layout = ingest.Layout.compile(ingest.FRIGATE_PATTERN)
            tz = ZoneInfo("UTC")
        else:
            if not options["pattern"]:
                raise CommandError("--layout pattern needs --pattern.", returncode=USAGE_EXIT)
            try:
                layout = ingest.Layout.compile(options["pattern"])
                tz = ZoneInfo(options["timezone"])
            except ingest.PatternError as exc:
                raise CommandError(f"--pattern: {exc}.", returncode=USAGE_EXIT) from None
            except (ZoneInfoNotFoundError, ValueError):
                raise CommandError(
                    f"--timezone: unknown time zone {options['timezone']!r}.", returncode=USAGE_EXIT
                ) from None
            if "camera" not in layout.regex.groupindex and not options["camera"]:
                raise CommandError("the pattern has no {camera}: give --camera.", returncode=USAGE_EXIT)

        last = [-1]

        def progress(done: int, total: int) -> None:
            step = max(1, total // 20)
            if done == total or done - last[0] >= step:
                last[0] = done
                self.stderr.write(f"ingest: {done}/{total} files", style_func=str)

        result = ingest.ingest(
            paths,
            prop=prop,
            layout=layout,
            camera_code=options["camera"],
            tz=tz,
            min_gap_seconds=options["min_gap"],
            jobs=options["jobs"],
            progress=progress,
        )
        for quarantined in result.quarantine:
            self.stdout.write(f"quarantined {quarantined.path}: {quarantined.reason_code}: {quarantined.reason}")
        for path in result.changed:
            self.stderr.write(f"warning: {path} changed since it was indexed; the index keeps the original hash")
        for gap in result.gaps:
            self.stdout.write(
                f"gap {gap.camera.code} {gap.start.isoformat()} -> {gap.end.isoformat()} ({gap.seconds:.1f} s)"
            )
        self.stdout.write(
            f"{result.files} files: {result.indexed} indexed, {result.skipped} skipped as already known, "
            f"{result.quarantined} quarantined, {len(result.gaps)} gaps found."
        )
        if result.nothing_readable:
            raise CommandError("nothing could be read.", returncode=NOTHING_READ_EXIT)

    def _property(self, code: str | None) -> Property:
        if code:
            prop = Property.objects.filter(code=code).first()
            if prop is None:
                raise CommandError(f"no property with code {code!r}.", returncode=USAGE_EXIT)
            return prop
        props = list(Property.objects.all()[:2])
        if len(props) != 1:
            raise CommandError("give --property CODE (there is not exactly one property).", returncode=USAGE_EXIT)
        return props[0]
