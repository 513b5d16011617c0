"""Synthetic camera footage: real H.264 MP4 segments with moving shapes and burned-in text, for the demo and benchmarks.

Each frame shows the camera label and its own UTC time (to the tenth of a second), a bouncing disc, a sliding bar and
a frame counter, so a player or an export can be checked by eye: the clock in the picture is the time the segment's
file name and the index say. Files are written in the Frigate layout (``recordings/YYYY-MM-DD/HH/<camera>/MM.SS.mp4``,
UTC) and atomically (a temporary name, then a rename), so an interrupted run never leaves a half-written segment
under a real name. Output is deterministic for the same arguments, which lets callers skip a segment that exists.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

CODEC_PREFERENCE = ("libx264", "mpeg4")


def video_codec() -> str:
    """libx264 where PyAV's FFmpeg has it, else the built-in MPEG-4 Part 2 encoder."""
    return next(c for c in CODEC_PREFERENCE if c in av.codecs_available)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's own embedded font: present offline on every install (FreeType build, Pillow >= 10.1).
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=32)
def _background(width: int, height: int, seed: int) -> Image.Image:
    """A still 'scene' per seed: a floor, a wall and a few boxes, so cameras look different."""
    rng = random.Random(seed)  # noqa: S311 -- scenery, not secrets
    wall = (rng.randrange(60, 120), rng.randrange(60, 120), rng.randrange(80, 140))
    image = Image.new("RGB", (width, height), wall)
    draw = ImageDraw.Draw(image)
    floor_y = int(height * 0.62)
    draw.rectangle((0, floor_y, width, height), fill=(wall[0] // 2, wall[1] // 2 + 20, wall[2] // 2))
    for _ in range(4):
        w, h = rng.randrange(width // 12, width // 5), rng.randrange(height // 10, height // 4)
        x = rng.randrange(0, width - w)
        colour = (rng.randrange(120, 230), rng.randrange(120, 230), rng.randrange(120, 230))
        draw.rectangle((x, floor_y - h, x + w, floor_y), fill=colour, outline=(20, 20, 20))
    return image


def _bounce(position: float, span: int) -> int:
    """A point moving back and forth across span pixels."""
    cycle = position % (2 * span)
    return int(cycle if cycle < span else 2 * span - cycle)


def draw_frame(*, at: datetime, index: int, fps: int, width: int, height: int, label: str, seed: int) -> Image.Image:
    """One frame: the scene, a disc and a bar that move, and the label and UTC time burned in."""
    image = _background(width, height, seed).copy()
    draw = ImageDraw.Draw(image)
    unit = max(1, height // 36)
    radius = height // 10
    t = index / fps + seed * 7.3  # seconds since the segment began, offset so cameras do not move in step
    x = _bounce(t * width * 0.23, width - 2 * radius) + radius
    y = _bounce(t * height * 0.31, height - 2 * radius - 4 * unit) + radius + 4 * unit
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(235, 200, 40), outline=(0, 0, 0))
    bar = _bounce(t * width * 0.4, width - 8 * unit)
    draw.rectangle((bar, height - 3 * unit, bar + 8 * unit, height - unit), fill=(220, 40, 40))
    text_size = max(10, 2 * unit)
    font = _font(text_size)
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 100_000}Z"
    draw.rectangle((0, 0, width, int(text_size * 1.6)), fill=(0, 0, 0))
    draw.text((unit, int(text_size * 0.25)), f"{label}  {stamp}", fill=(255, 255, 255), font=font)
    counter = f"#{index:05d}"
    counter_x = width - unit - int(font.getlength(counter))
    draw.text((counter_x, int(text_size * 0.25)), counter, fill=(160, 255, 160), font=font)
    return image


def write_segment(
    path: Path,
    *,
    start: datetime,
    seconds: float = 10,
    fps: int = 10,
    width: int = 640,
    height: int = 360,
    label: str = "LOBBY-1",
    seed: int = 0,
    gop: int | None = None,
) -> Path:
    """Write one MP4 segment of ``seconds`` at ``fps`` whose frames show ``label`` and their UTC time from ``start``.

    ``gop``: frames between keyframes (default: one keyframe a second). Returns ``path``.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if fps < 1 or seconds <= 0 or width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError("fps >= 1, seconds > 0 and an even width and height of at least 16 are needed")
    codec = video_codec()
    gop = gop or fps
    frames = max(1, round(seconds * fps))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    # A fixed keyframe interval with no scene-cut keyframes, as NVRs write: stream copy cuts on any keyframe.
    options = (
        {"preset": "ultrafast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        if codec == "libx264"
        else {}
    )
    try:
        with av.open(str(partial), "w", format="mp4") as container:
            container.metadata["creation_time"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            stream = container.add_stream(codec, rate=fps, options=options)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.codec_context.gop_size = gop
            if codec != "libx264":
                stream.codec_context.bit_rate = width * height * fps // 8
            for index in range(frames):
                at = start + timedelta(seconds=index / fps)
                image = draw_frame(at=at, index=index, fps=fps, width=width, height=height, label=label, seed=seed)
                frame = av.VideoFrame.from_image(image)
                frame.pts = index
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def frigate_path(root: Path, camera_code: str, start: datetime) -> Path:
    """Where Frigate keeps the segment of ``camera_code`` that starts at ``start`` (named in UTC)."""
    at = start.astimezone(UTC)
    return root / "recordings" / at.strftime("%Y-%m-%d/%H") / camera_code / at.strftime("%M.%S.mp4")


def segment_starts(start: datetime, minutes: float, seconds_per_segment: int = 10) -> list[datetime]:
    count = int(minutes * 60 // seconds_per_segment)
    return [start + timedelta(seconds=n * seconds_per_segment) for n in range(count)]


def write_frigate_tree(
    root: Path,
    cameras: Iterable[str],
    start: datetime,
    minutes: float,
    seconds_per_segment: int = 10,
    *,
    fps: int = 10,
    width: int = 640,
    height: int = 360,
    skip: Callable[[str, datetime], bool] | None = None,
    overwrite: bool = False,
    jobs: int | None = None,
) -> list[Path]:
    """Segments for each camera from ``start`` for ``minutes``, in the Frigate layout under ``root``.

    ``skip(camera, segment_start)`` true leaves that segment out, to make a recording gap. A segment already on disk
    is kept unless ``overwrite`` (the output is deterministic, so it is the same file). ``jobs`` segments are encoded
    at once (default: the number of CPUs). Returns every segment's path, written or kept, camera by camera in time
    order.
    """
    planned: list[tuple[Path, str, int, datetime]] = []
    for number, code in enumerate(cameras):
        for at in segment_starts(start.astimezone(UTC), minutes, seconds_per_segment):
            if skip is None or not skip(code, at):
                planned.append((frigate_path(root, code, at), code, number, at))

    def write(item: tuple[Path, str, int, datetime]) -> None:
        path, code, number, at = item
        if overwrite or not path.exists():
            write_segment(
                path,
                start=at,
                seconds=seconds_per_segment,
                fps=fps,
                width=width,
                height=height,
                label=code,
                seed=number,
            )

    # PyAV and x264 release the GIL while encoding, so threads use the cores without a process pool.
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        list(pool.map(write, planned))
    return [path for path, *_ in planned]
