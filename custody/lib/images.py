"""Validate floor-plan uploads without third-party image libraries.

PNG: signature, IHDR, every chunk's CRC and a final IEND, so a truncated or disguised file is refused.
SVG: well-formed XML with an <svg> root and nothing active: no scripts, event handlers, external
references, embedded HTML or DTDs. Plans are shown through <img>, which never runs scripts, and served
with a sandboxing CSP; this check keeps hostile files out of storage in the first place.
"""

from __future__ import annotations

import re
import struct
import zlib
from xml.etree import ElementTree
from xml.parsers import expat

from django.utils.translation import gettext as _

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PLAN_PIXELS = 16384
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_FORBIDDEN_SVG_TAGS = {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
_SAFE_HREF = re.compile(r"^#[A-Za-z0-9_.:-]+$|^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]+$")
# url(...) in an attribute may only point inside the file (url(#gradient)); quotes and "//" hide outside links.
_OUTSIDE_URL = re.compile(r"url\((?!\s*[\"']?\s*#)", re.IGNORECASE)


class ImageRejected(ValueError):
    """The upload is not an acceptable image; the message says why in words a user understands."""


def check_png(data: bytes) -> tuple[int, int]:
    """Return (width, height) of a complete, undamaged PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ImageRejected(_("not a PNG file (the PNG signature is missing)"))
    pos = len(PNG_SIGNATURE)
    width = height = 0
    seen_ihdr = False
    while True:
        if pos + 8 > len(data):
            raise ImageRejected(_("the PNG file is truncated"))
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length + 4
        if end > len(data):
            raise ImageRejected(_("the PNG file is truncated"))
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : end])
        if zlib.crc32(kind + body) != crc:
            raise ImageRejected(_("the PNG file is damaged (checksum mismatch)"))
        if not seen_ihdr:
            if kind != b"IHDR" or length != 13:
                raise ImageRejected(_("the PNG file has no valid header"))
            width, height = struct.unpack(">II", body[:8])
            seen_ihdr = True
        if kind == b"IEND":
            break
        pos = end
    if not (0 < width <= MAX_PLAN_PIXELS and 0 < height <= MAX_PLAN_PIXELS):
        raise ImageRejected(_("the image must be between 1 and %(max)d pixels on each side") % {"max": MAX_PLAN_PIXELS})
    return width, height


class _DeclaresDTD(Exception):
    pass


def _refuse_dtd(*args: object) -> None:
    raise _DeclaresDTD


def _declares_dtd(data: bytes) -> bool:
    """True if the XML declares a DOCTYPE or entities, in any encoding (a byte search misses UTF-16)."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    try:
        parser.Parse(data, True)
    except _DeclaresDTD:
        return True
    except (expat.ExpatError, LookupError, ValueError):
        return False  # not well-formed: reported by the parse in check_svg
    return False


def check_svg(data: bytes) -> None:
    head = data[:2048].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower() or _declares_dtd(data):
        raise ImageRejected(_("SVG files with a DOCTYPE or entities are not accepted"))
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - DTDs refused above; expat caps entity expansion
    except (ElementTree.ParseError, LookupError, ValueError) as exc:
        # LookupError / ValueError: an unknown or multi-byte encoding named in the XML declaration.
        raise ImageRejected(_("not a well-formed SVG file (%(error)s)") % {"error": exc}) from None
    if root.tag not in {f"{SVG_NS}svg", "svg"}:
        raise ImageRejected(_("the file's root element is not <svg>"))
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""
        if tag in _FORBIDDEN_SVG_TAGS:
            raise ImageRejected(_("SVG element <%(tag)s> is not allowed in a floor plan") % {"tag": tag})
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise ImageRejected(
                    _("SVG event attribute %(attribute)s is not allowed in a floor plan") % {"attribute": repr(local)}
                )
            if (local == "href" or name == XLINK_HREF) and not _SAFE_HREF.match(value.strip()):
                raise ImageRejected(_("SVG links to outside resources are not allowed in a floor plan"))
            if "javascript:" in value.lower() or _OUTSIDE_URL.search(value):
                raise ImageRejected(_("SVG attributes may not reference scripts or outside resources"))
        if tag == "style" and element.text and ("@import" in element.text or "url(" in element.text):
            raise ImageRejected(_("SVG styles may not import or reference outside resources"))
