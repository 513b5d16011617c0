#!/usr/bin/env python3
"""Ingest benchmark: `custody ingest` indexing (SHA-256, PyAV probe, database writes) beside `sha256sum`.

    .venv/bin/python benchmarks/ingest_bench.py                      # 1,000 segments of 2 MB, SQLite
    .venv/bin/python benchmarks/ingest_bench.py --segments 10000     # the figure of DESIGN.md
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/custody_bench .venv/bin/python benchmarks/ingest_bench.py

A few real H.264 clips are generated with PyAV (--seconds, --width, --height); each of the N segment files in a
Frigate tree is one of them followed by an MP4 `free` box of distinct bytes, so every file is a valid MP4 with its
own hash and the size an NVR would write (--segment-mb). The files are read once to warm the page cache, then
`sha256sum` (one process, all files), Python's hashlib alone, and the ingest are timed in the same run, twice
each; the best of each counts.
Target (DESIGN.md): ingest <= 1.2x sha256sum. The PostgreSQL database must exist and will be migrated.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CAMERAS = ["CAM-1", "CAM-2", "CAM-3", "CAM-4"]


def make_clip(path: Path, *, seconds: int, width: int, height: int, fps: int, seed: int) -> None:
    import av
    from PIL import Image, ImageDraw

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options={"preset": "ultrafast"} if codec == "libx264" else {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index in range(seconds * fps):
            image = Image.new("RGB", (width, height), (40 + seed * 30, 60, 90))
            x = (index * 16) % (width - 120)
            ImageDraw.Draw(image).rectangle((x, height // 3, x + 120, height // 3 + 120), fill="white")
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def build_tree(root: Path, clips: list[bytes], count: int, segment_bytes: int, seconds: int) -> list[Path]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    paths = []
    for index in range(count):
        camera = CAMERAS[index % len(CAMERAS)]
        at = start + timedelta(seconds=seconds * (index // len(CAMERAS)))
        path = root / "recordings" / at.strftime("%Y-%m-%d/%H") / camera / at.strftime("%M.%S.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        clip = clips[index % len(clips)]
        pad = max(16, segment_bytes - len(clip) - 8)
        body = index.to_bytes(16, "big") + os.urandom(min(pad - 16, 4096)) * ((pad - 16) // 4096 + 1)
        body = body[:pad]
        with path.open("wb") as handle:
            handle.write(clip)
            handle.write((8 + pad).to_bytes(4, "big") + b"free" + body)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--segment-mb", type=float, default=2.0, help="size of each segment file (2 MB)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=4, help="ingest's parallel readers (as `custody ingest --jobs`)")
    parser.add_argument("--dir", help="where to write the tree (default: a temporary folder, removed after)")
    args = parser.parse_args()

    os.environ.setdefault("CUSTODY_HOME", tempfile.mkdtemp(prefix="custody-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custody.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from custody.footage import ingest
    from custody.footage.models import Camera, QuarantinedFile, Segment
    from custody.properties.models import Area, AreaClass, AreaKind, Floor, Jurisdiction, Property

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}); cpus: {os.cpu_count()}")
    prop, _ = Property.objects.get_or_create(
        code="bench-ingest", defaults={"name": "Bench", "timezone": "UTC", "jurisdiction": Jurisdiction.ES}
    )
    floor, _ = Floor.objects.get_or_create(property=prop, level=0, defaults={"name": "Ground"})
    area, _ = Area.objects.get_or_create(
        property=prop, floor=floor, name="Lobby", defaults={"kind": AreaKind.LOBBY, "area_class": AreaClass.PUBLIC}
    )
    for code in CAMERAS:
        if not Camera.objects.filter(property=prop, code=code).exists():
            Camera(property=prop, area=area, code=code, name=code).save()

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="custody-ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        clips = []
        for seed in range(3):
            clip = work / f"clip{seed}.mp4"
            make_clip(clip, seconds=args.seconds, width=args.width, height=args.height, fps=args.fps, seed=seed)
            clips.append(clip.read_bytes())
            clip.unlink()
        paths = build_tree(work / "nvr", clips, args.segments, int(args.segment_mb * 1_000_000), args.seconds)
        total = sum(p.stat().st_size for p in paths)
        print(
            f"generated {len(paths)} segments, {total / 1e9:.2f} GB (real clip {len(clips[0]) / 1e3:.0f} kB "
            f"{args.width}x{args.height} {args.seconds} s) in {time.perf_counter() - t:.1f} s"
        )

        listing = b"\0".join(str(p).encode() for p in paths)
        subprocess.run(["xargs", "-0", "cat"], input=listing, stdout=subprocess.DEVNULL, check=True)  # warm cache

        def sha256sum() -> float:
            start = time.perf_counter()
            subprocess.run(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start

        def run_ingest(jobs: int) -> float:
            Segment.objects.filter(camera__property=prop).delete()
            QuarantinedFile.objects.all().delete()
            start = time.perf_counter()
            result = ingest.ingest(
                [work / "nvr"], prop=prop, layout=ingest.Layout.compile(ingest.FRIGATE_PATTERN), jobs=jobs
            )
            elapsed = time.perf_counter() - start
            assert result.indexed == len(paths), (result.indexed, result.quarantined, result.quarantine[:3])
            return elapsed

        def hashlib_only() -> float:
            start = time.perf_counter()
            buffer = bytearray(1 << 20)
            for path in paths:
                digest = hashlib.sha256()
                with path.open("rb", buffering=0) as handle:
                    while count := handle.readinto(buffer):
                        digest.update(memoryview(buffer)[:count])
            return time.perf_counter() - start

        sums = [sha256sum(), sha256sum()]
        plain = [hashlib_only(), hashlib_only()]
        ours_1 = [run_ingest(1), run_ingest(1)]
        ours_n = [run_ingest(args.jobs), run_ingest(args.jobs)]
        sums.append(sha256sum())
        rerun_start = time.perf_counter()
        again = ingest.ingest([work / "nvr"], prop=prop, layout=ingest.Layout.compile(ingest.FRIGATE_PATTERN))
        rerun = time.perf_counter() - rerun_start
        assert again.indexed == 0 and again.skipped == len(paths)

        base = min(sums)
        print(f"sha256sum:              {base:.2f} s  ({total / base / 1e9:.2f} GB/s)  runs {sums}")
        print(f"hashlib alone:          {min(plain):.2f} s  (same read loop as ingest, no probe, no database)")
        for label, runs in [("ingest --jobs 1", ours_1), (f"ingest --jobs {args.jobs}", ours_n)]:
            best = min(runs)
            print(
                f"{label + ':':<23} {best:.2f} s  ({len(paths) / best:.0f} files/s)  ratio {best / base:.2f}  "
                f"(target <= 1.2)"
            )
        print(f"re-run (all known):     {rerun:.2f} s")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
