"""Re-encoding a cut clip: privacy masks filled black, and optionally a burned-in watermark (libx264 via PyAV).

A camera's privacy masks are permanent: every export of that camera is re-encoded with its polygons filled black,
watermark or not, so a stream copy never carries what the masks hide. The watermark names the request, the export
and who made it, with "CONFIDENTIAL", at the top and bottom of every frame, half-transparent so the picture stays
readable.

Frames keep their timestamps, so the clip's actual bounds are the stream copy's. Only the video stream is kept.
Drawing is done with Pillow (polygons and text are drawn in C; the text overlay is rendered once per clip).
"""

from __future__ import annotations

import errno
import unicodedata
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw, ImageFont

from custody.core.pdf import CJK_FONT, LATIN_FONT, _font_file

CODEC = "libx264"
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "20"}

Polygon = Sequence[Sequence[float]]


class ReencodeError(Exception):
    """The clip could not be decoded or encoded; ``code`` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@lru_cache(maxsize=8)
def _font(size: int, wide: bool) -> Any:
    package, name, face = CJK_FONT if wide else LATIN_FONT
    return ImageFont.truetype(str(_font_file(package, name)), size=size, index=face)


def _needs_cjk(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in text)


def text_band(text: str, width: int, height: int) -> Image.Image:
    """A half-transparent black band with the text in white, as wide as the frame (RGBA)."""
    size = max(10, height // 28)
    font = _font(size, _needs_cjk(text))
    band_height = int(size * 1.7)
    band = Image.new("RGBA", (width, band_height), (0, 0, 0, 120))
    draw = ImageDraw.Draw(band)
    draw.text((size // 2, (band_height - size) // 2 - size // 8), text, font=font, fill=(255, 255, 255, 220))
    return band


def mask_image(masks: Sequence[Polygon], width: int, height: int) -> Image.Image | None:
    """The masks as one 8-bit image (255 = hidden), polygon points being fractions of the frame."""
    if not masks:
        return None
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for polygon in masks:
        draw.polygon([(float(x) * width, float(y) * height) for x, y in polygon], fill=255)
    return image


def reencode(
    source: Path,
    target: Path,
    *,
    masks: Sequence[Polygon] = (),
    top_text: str = "",
    bottom_text: str = "",
    on_frame: Callable[[], object] | None = None,
) -> int:
    """Decode ``source``, black out the masks, burn in the texts, encode to ``target`` (MP4, H.264); returns the
    number of frames. OSError (a full disk) propagates; a clip that cannot be decoded raises ReencodeError."""
    try:
        source_container = av.open(str(source))
    except av.FFmpegError as exc:
        raise ReencodeError("unreadable_clip") from exc
    with source_container:
        if not source_container.streams.video:
            raise ReencodeError("no_video")
        video = source_container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        # guessed_rate, not average_rate: a window spanning a recording gap has a low average rate, and an encoder
        # clock of 1/average_rate would round frames 1/fps apart onto the same timestamp.
        rate = video.guessed_rate or video.average_rate or Fraction(25)
        hidden = mask_image(masks, width, height)
        black = Image.new("RGB", (width, height), (0, 0, 0)) if hidden is not None else None
        top = text_band(top_text, width, height) if top_text else None
        bottom = text_band(bottom_text, width, height) if bottom_text else None
        frames = 0
        try:
            with av.open(str(target), "w", format="mp4") as out:
                stream: Any = out.add_stream(CODEC, rate=rate, options=dict(ENCODER_OPTIONS))
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.time_base = video.time_base
                stream.codec_context.time_base = video.time_base  # keep the source's fine clock (see rate)
                for frame in source_container.decode(video):
                    image = frame.to_image()
                    if hidden is not None and black is not None:
                        image.paste(black, (0, 0), hidden)
                    if top is not None:
                        image.paste(top, (0, 0), top)
                    if bottom is not None:
                        image.paste(bottom, (0, height - bottom.height), bottom)
                    new = av.VideoFrame.from_image(image)
                    new.pts = frame.pts
                    new.time_base = frame.time_base
                    for packet in stream.encode(new):
                        out.mux(packet)
                    frames += 1
                    if on_frame is not None:
                        on_frame()
                for packet in stream.encode():
                    out.mux(packet)
        except av.FFmpegError as exc:
            if getattr(exc, "errno", None) == errno.ENOSPC:
                raise OSError(errno.ENOSPC, "No space left on device", str(target)) from exc
            raise ReencodeError("undecodable_clip") from exc
    if not frames:
        raise ReencodeError("no_frames")
    return frames
