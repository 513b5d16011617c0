#!/usr/bin/env python3
"""Footage benchmark: export by stream copy beside `ffmpeg -f concat -c copy`, and in-grant playback's first byte.

    .venv/bin/python benchmarks/footage_bench.py                     # 60 min of 10 s 1080p segments, best of 3
    .venv/bin/python benchmarks/footage_bench.py --ingest-segments 10000   # also runs benchmarks/ingest_bench.py

Figures (docs/benchmarks.md, "Footage"), all measured in the same run on the same files:

(a) Export of a --minutes window (default 60) from --minutes*6 ten-second segments of one camera (--width x --height,
    --fps, H.264 from custody.footage.synthetic, cached under --work so reruns skip the encoding):
    - `ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4` (Debian's ffmpeg; the setup step runs
      `apt-get install -y ffmpeg` when it is not on PATH), the baseline;
    - custody.footage.remux.remux_window into a file: stream copy with every source hashed and checked against the
      index, and the SHA-256 of the output;
    - the whole evidence export (custody.evidence.exporting.create_export + run_export: grant use, remux, manifest,
      signature, chain-of-custody PDF, zip written, fsynced and hashed), under a real approved grant.
    Target: remux and export <= 1.0x ffmpeg.
(b) Ingest indexing vs `sha256sum`: benchmarks/ingest_bench.py; --ingest-segments N runs it here with N segments.
    Target <= 1.2x.
(c) Time to first byte of in-grant playback of a --minutes window through the stream view (a live waitress server
    on 127.0.0.1, a signed-in user holding an approved footage grant; the first request to the window, so nothing
    is cached). Target <= 1 s.

The page cache is warmed once before timing (every source read), so disk speed is not what is measured; each timed
step runs --repeat times and the best counts. The database is SQLite in a fresh CUSTODY_HOME (--home to choose one;
never the CUSTODY_HOME of the environment) unless DATABASE_URL is set (then it must exist and will be migrated).

Encoding 360 1080p segments takes minutes, so --distinct of them (default 12) are encoded with
custody.footage.synthetic and each of the others is a copy of one of those with an MP4 `free` box holding its number
appended: every file is a valid MP4 with its own SHA-256 (as the index requires) and real 1080p H.264 packets; only
the clock burned into the picture repeats.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CAMERA = "BENCH-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "bench-password-not-secret-42"  # noqa: S105 -- a throwaway user in a throwaway database


def ensure_ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("setup: apt-get install -y ffmpeg", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "ffmpeg"], check=True)
        found = shutil.which("ffmpeg")
    if not found:
        sys.exit("ffmpeg is not on PATH: install it (Debian: apt-get install -y ffmpeg) and run again")
    return found


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - t)
    return best, value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=60, help="window to export and play (default 60)")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each step; the best counts")
    parser.add_argument("--distinct", type=int, default=12, help="segments really encoded; the rest are copies")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="encoders while generating segments")
    parser.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "custody-footage-bench"),
        help="folder for the generated segments (kept: reruns reuse them) and outputs",
    )
    parser.add_argument("--home", help="CUSTODY_HOME for the benchmark's database (default: a fresh temporary one)")
    parser.add_argument("--no-export-job", action="store_true", help="skip the whole-export figure")
    parser.add_argument("--no-playback", action="store_true", help="skip the playback figure")
    parser.add_argument(
        "--ingest-segments", type=int, default=0, help="also run benchmarks/ingest_bench.py with this many segments"
    )
    args = parser.parse_args()
    ffmpeg = ensure_ffmpeg()

    work = Path(args.work).resolve()
    kind = f"{args.width}x{args.height}-{args.fps}fps"
    tree = work / f"nvr-{kind}-{args.distinct}"
    out_dir = work / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    # Its own data folder (database, keys, packages), never the one in the environment: nothing lands in a real home.
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="custody-footage-bench-home-"))
    os.environ["CUSTODY_HOME"] = str(home)
    try:
        measure(args, ffmpeg, tree, work, out_dir, home)
    finally:  # the segments stay cached; the outputs, packages and a temporary home go
        shutil.rmtree(out_dir, ignore_errors=True)
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


def measure(args: argparse.Namespace, ffmpeg: str, tree: Path, work: Path, out_dir: Path, home: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custody.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from custody.footage import ingest, remux
    from custody.footage.models import Segment

    call_command("migrate", verbosity=0)
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    print(f"database: {connection.vendor}; cpus: {os.cpu_count()} ({cpu}); ffmpeg: {ffmpeg_version(ffmpeg)}")

    t = time.perf_counter()
    paths = build_tree(tree, work / f"base-{args.width}x{args.height}-{args.fps}fps", args)
    total = sum(p.stat().st_size for p in paths)
    print(
        f"segments: {len(paths)} x 10 s {args.width}x{args.height} {args.fps} fps H.264, "
        f"{total / 1e6:.0f} MB in all, ready in {time.perf_counter() - t:.1f} s (under {tree})"
    )
    world = make_world()
    result = ingest.ingest(paths, prop=world["prop"], layout=ingest.Layout.compile(ingest.FRIGATE_PATTERN))
    assert result.indexed + result.skipped == len(paths) and not result.quarantined, result
    for path in paths:  # warm the page cache: the figures compare CPU and copying, not the disk
        path.read_bytes()
    start, end = T0, T0 + timedelta(minutes=args.minutes)
    segments = list(Segment.objects.filter(camera=world["camera"]).order_by("start"))

    # (a) ffmpeg's concat demuxer, stream copy
    listing = out_dir / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in paths), encoding="utf-8")
    ffmpeg_out = out_dir / "ffmpeg.mp4"
    command = [ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    t_ffmpeg, _ = best_of(args.repeat, lambda: subprocess.run([*command, str(ffmpeg_out)], check=True))
    print(f"\n(a) export of {args.minutes} min ({len(paths)} segments) by stream copy")
    print(f"  ffmpeg -f concat -c copy:          {t_ffmpeg:7.2f} s  ({video_seconds(ffmpeg_out):.0f} s of video)")
    t_hash, _ = best_of(args.repeat, lambda: sha256_file(ffmpeg_out))
    print(f"  sha256 of ffmpeg's output:         {t_hash:7.2f} s  (ffmpeg + hash: {t_ffmpeg + t_hash:.2f} s)")

    remux_out = out_dir / "remux.mp4"
    t_remux, remuxed = best_of(args.repeat, lambda: remux.write_file(segments, start, end, remux_out))
    assert remuxed.sha256 == sha256_file(remux_out)
    print(
        f"  custody remux_window (+SHA-256):   {t_remux:7.2f} s  ({video_seconds(remux_out):.0f} s of video, "
        f"{remuxed.bytes_written / 1e6:.0f} MB)   ratio {t_remux / t_ffmpeg:.2f}x ffmpeg"
    )
    t_frag, fragmented = best_of(
        args.repeat, lambda: remux.write_file(segments, start, end, remux_out, fragmented=True)
    )
    assert fragmented.sha256 == sha256_file(remux_out)
    print(
        f"  remux_window, fragmented MP4:      {t_frag:7.2f} s  (one pass, as playback writes it)   "
        f"ratio {t_frag / t_ffmpeg:.2f}x ffmpeg"
    )
    if not args.no_export_job:
        grants = [approved_grant(world, "footage_export", start, end) for _ in range(args.repeat)]
        t_export, export = best_of(args.repeat, lambda: run_export_job(world, grants.pop(), start, end))
        print(
            f"  custody evidence export (package): {t_export:7.2f} s  ({export.package_size / 1e6:.0f} MB zip, "
            f"{export.status})   ratio {t_export / t_ffmpeg:.2f}x ffmpeg"
        )

    if not args.no_playback:
        print(f"\n(c) in-grant playback, {args.minutes}-minute window")
        timings = playback_first_byte(world, start, end, args.repeat)
        for n, timing in enumerate(timings, start=1):
            print(
                f"  run {n}: Play (POST start) {timing.start * 1000:4.0f} ms, "
                f"player page {timing.page * 1000:4.0f} ms, "
                f"stream first byte {timing.stream_first_byte * 1000:4.0f} ms; click to first byte "
                f"{timing.click_to_first_byte * 1000:4.0f} ms ({timing.stream_bytes / 1e6:.0f} MB streamed in all)"
            )
        best = min(timings, key=lambda t: t.click_to_first_byte)
        print(
            f"  best: stream first byte {best.stream_first_byte * 1000:.0f} ms, "
            f"click to first byte {best.click_to_first_byte * 1000:.0f} ms (target <= 1000 ms)"
        )

    print("\n(b) ingest indexing vs sha256sum: benchmarks/ingest_bench.py", end="")
    if args.ingest_segments:
        print(f" --segments {args.ingest_segments}", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "ingest_bench.py"), "--segments", str(args.ingest_segments)],
            check=True,
            env={**os.environ, "CUSTODY_HOME": str(home / "ingest-bench")},
        )
    else:
        print(" (not run: --ingest-segments N)")


def build_tree(tree: Path, base: Path, args: argparse.Namespace) -> list[Path]:
    """The segments of CAMERA from T0 for args.minutes in the Frigate layout; files already there are kept."""
    from custody.footage.synthetic import frigate_path, segment_starts, write_frigate_tree

    distinct = max(1, args.distinct)
    clips = write_frigate_tree(
        base, [CAMERA], T0, distinct / 6, 10, fps=args.fps, width=args.width, height=args.height, jobs=args.jobs
    )
    paths = []
    for number, start in enumerate(segment_starts(T0, args.minutes, 10)):
        path = frigate_path(tree, CAMERA, start)
        if not path.exists():
            body = clips[number % len(clips)].read_bytes()
            tag = f"custody-footage-bench segment {number:08d}".encode()
            partial = path.with_name(f".{path.name}.part")
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(body + (8 + len(tag)).to_bytes(4, "big") + b"free" + tag)
            partial.replace(path)
        paths.append(path)
    return paths


def ffmpeg_version(ffmpeg: str) -> str:
    first = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ")


def make_world() -> dict[str, Any]:
    """A property with a lobby camera, a security officer who asks and a security manager who approves."""
    from custody.accounts.models import RoleAssignment, User
    from custody.accounts.roles import Role
    from custody.footage.models import Camera
    from custody.properties.models import Area, AreaClass, AreaKind, Floor, Jurisdiction, Property

    prop, _ = Property.objects.get_or_create(
        code="bench-footage", defaults={"name": "Bench", "timezone": "UTC", "jurisdiction": Jurisdiction.ES}
    )
    floor, _ = Floor.objects.get_or_create(property=prop, level=0, defaults={"name": "Ground"})
    area, _ = Area.objects.get_or_create(
        property=prop, floor=floor, name="Lobby", defaults={"kind": AreaKind.LOBBY, "area_class": AreaClass.PUBLIC}
    )
    camera = Camera.objects.filter(property=prop, code=CAMERA).first()
    if camera is None:
        camera = Camera(property=prop, area=area, code=CAMERA, name="Bench camera")
        camera.save()
    users = {}
    for username, role in (("bench-officer", Role.SECURITY_OFFICER), ("bench-manager", Role.SECURITY_MANAGER)):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username=username, password=PASSWORD, display_name=username)
        RoleAssignment.objects.get_or_create(user=user, property=prop, role=role)
        users[role] = user
    return {"prop": prop, "camera": camera, "officer": users[Role.SECURITY_OFFICER],
            "manager": users[Role.SECURITY_MANAGER]}  # fmt: skip


def approved_grant(world: dict[str, Any], request_type: str, start: datetime, end: datetime) -> Any:
    """A fresh request for the camera and window, filed by the officer and approved by the manager: its grant."""
    from django.test.utils import override_settings

    from custody.requests import actions
    from custody.requests.actions import RequestData
    from custody.requests.models import Grant, LegalBasis, Purpose

    data = RequestData(
        request_type=request_type,
        purpose=Purpose.SECURITY_INCIDENT,
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        purpose_text="Benchmark request.",
        cameras=[world["camera"]],
        window_start=start,
        window_end=end,
    )
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        request = actions.create_request(world["prop"], data, acting_user=world["officer"])
        request = actions.submit_request(request, acting_user=world["officer"])
        actions.approve_request(request, acting_user=world["manager"], reason="Benchmark.")
    return Grant.objects.get(request=request)


def run_export_job(world: dict[str, Any], grant: Any, start: datetime, end: datetime) -> Any:
    """create_export (grant use, audit) and run_export (cut, manifest, signature, report, zip) of the window."""
    from custody.evidence.exporting import create_export, run_export

    export = create_export(grant, cameras=[world["camera"]], start=start, end=end, acting_user=world["officer"])
    return run_export(export.pk)


def playback_first_byte(world: dict[str, Any], start: datetime, end: datetime, repeat: int) -> list[Timing]:
    """On a live waitress server on 127.0.0.1, for fresh grants (so no clip is cached): the officer presses Play on
    the timeline (POST start: one grant use, audited, the clip's build begins), the browser follows the redirect
    to the player page, and the player asks for the stream."""
    import threading
    from urllib.parse import urlencode, urlsplit

    from django.test import Client
    from django.urls import reverse
    from waitress.server import create_server

    from custody.requests.models import RequestType
    from custody.wsgi import application

    server = create_server(application, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, name="bench-waitress", daemon=True).start()
    port = server.effective_port  # type: ignore[union-attr]
    client = Client(HTTP_HOST="127.0.0.1")
    response = client.post("/accounts/login/", {"username": "bench-officer", "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    timings = []
    try:
        for _ in range(repeat):
            grant = approved_grant(world, RequestType.FOOTAGE_VIEW, start, end)
            timeline = reverse("playback:timeline", kwargs={"code": world["prop"].code, "grant_pk": grant.pk})
            assert client.get(timeline).status_code == 200  # the page with the Play form; sets the CSRF cookie
            token = client.cookies["csrftoken"].value
            cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
            body = urlencode({"csrfmiddlewaretoken": token, "camera": world["camera"].pk})
            fetch = partial(http_request, port, cookie)
            t0 = time.perf_counter()
            started = fetch("POST", reverse("playback:start", kwargs={"code": world["prop"].code,
                                                                       "grant_pk": grant.pk}), body)  # fmt: skip
            assert started.status == 302, (started.status, started.read()[:300])
            location = urlsplit(started.getheader("Location", ""))
            t1 = time.perf_counter()
            page = fetch("GET", f"{location.path}?{location.query}")
            html = page.read().decode()
            assert page.status == 200, html[:300]
            t2 = time.perf_counter()
            found = re.search(r'data-stream-url="([^"]+)"', html)  # the player's source, as a browser reads it
            assert found, html[:300]
            stream_url = found.group(1)
            t3 = time.perf_counter()
            stream = fetch("GET", stream_url)
            first = stream.read(1)
            t4 = time.perf_counter()
            assert stream.status in (200, 206) and first, stream.status
            total = len(first) + len(stream.read())
            timings.append(Timing(t1 - t0, t2 - t1, t4 - t3, t4 - t0, total))
    finally:
        server.close()
    return timings


def http_request(port: int, cookie: str, method: str, url: str, payload: str | None = None) -> Any:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    if payload is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, url, body=payload, headers=headers)
    return connection.getresponse()


@dataclass
class Timing:
    start: float  # POST start -> 302
    page: float  # GET the player page
    stream_first_byte: float  # GET stream -> first byte of the body
    click_to_first_byte: float  # all three, one after the other
    stream_bytes: int


if __name__ == "__main__":
    main()
