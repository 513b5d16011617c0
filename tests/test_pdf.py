"""custody.core.pdf: embedded fonts, Chinese that really renders, extractable text, layout, determinism.

Pages are rendered with PDFium (pypdfium2) in a child process that is shown an empty font folder instead of the
system's, so the checks hold on a machine without fonts-noto-cjk and cannot pass thanks to it: a control PDF whose
Chinese font is not embedded must render blank there.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops

from custody.core.pdf import CJK_FONT, LATIN_FONT, PdfDocument, Signatory, _break_pieces, _font_file

GENERATED = datetime(2026, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8)))
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
DPI = 150

# Renders page 1 of argv[1] to the PNG argv[2]. PDFium reads the font folders once, when it is initialised; doing
# that here, before pypdfium2 initialises it with the defaults, makes argv[3] (an empty folder) its only font folder.
_RENDER_WITHOUT_SYSTEM_FONTS = textwrap.dedent(
    """
    import ctypes, sys
    import pypdfium2_raw as raw
    folders = (ctypes.c_char_p * 2)(sys.argv[3].encode(), None)
    raw.FPDF_InitLibraryWithConfig(raw.FPDF_LIBRARY_CONFIG(
        version=2,
        m_pUserFontPaths=ctypes.cast(folders, ctypes.POINTER(ctypes.POINTER(ctypes.c_char))),
        m_pIsolate=None,
        m_v8EmbedderSlot=0,
    ))
    import pypdfium2
    pypdfium2.PdfDocument(sys.argv[1])[0].render(scale=float(sys.argv[4]) / 72).to_pil().save(sys.argv[2])
    """
)


def render_without_system_fonts(pdf: bytes, tmp_path: Path, name: str = "page") -> Image.Image:
    source, target, no_fonts = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png", tmp_path / "no-fonts"
    source.write_bytes(pdf)
    no_fonts.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", _RENDER_WITHOUT_SYSTEM_FONTS, str(source), str(target), str(no_fonts), str(DPI)],
        check=True,
        timeout=120,
    )
    with Image.open(target) as image:
        return image.convert("L")


def sample_document() -> PdfDocument:
    doc = PdfDocument(
        title="Access request 访问申请表",
        subject="Printable application form",
        document_id="AR-2026-0042",
        generated_at=GENERATED,
        footer_note="Confidential 机密",
        page_label="Page {page} of {pages}",
        language="zh-CN",
    )
    doc.add_title("访问申请表", subtitle="Access request · 北京市朝阳区")
    doc.add_key_values(
        [
            ("Requester 申请人", "王小明"),
            ("Guests", "José Núñez, Zoë Müller, Łukasz Dvořák"),
            ("Address 地址", "北京市朝阳区建国路 88 号, Beijing 100022"),
        ]
    )
    doc.add_heading("Purpose 目的")
    doc.add_paragraph(
        "View the lobby 大堂 footage of 1 March 2026, 14:00 to 15:00, for an insurance claim. "
        "申请人因保险理赔需要查看2026年3月1日14:00至15:00大堂的监控录像，并承诺仅用于该目的，不复制、不传播。"
    )
    doc.add_table(
        ["Camera", "Area 区域", "Segment SHA-256"],
        [["CAM-01", "Lobby 大堂", SHA256], ["CAM-07", "Corridor 走廊 3F", "—"]],
        col_widths=(1, 1.5, 2),
    )
    doc.add_signatures(
        [
            Signatory(role="Requested by 申请人", name="王小明", detail="2026-03-01 09:12"),
            Signatory(role="Approved by 批准人", name="Zoë Müller", detail="2026-03-01 10:02"),
            Signatory(role="Second approver"),
        ]
    )
    return doc


@pytest.fixture(scope="module")
def sample_pdf() -> bytes:
    return sample_document().render()


@pytest.fixture
def opened(sample_pdf: bytes) -> Iterator[pdfium.PdfDocument]:
    document = pdfium.PdfDocument(sample_pdf)
    yield document
    document.close()


def page_text(document: pdfium.PdfDocument, index: int = 0) -> str:
    return str(document[index].get_textpage().get_text_range())


def char_box_px(page: pdfium.PdfPage, text: str, character: str) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom) of the first `character` on the page, at DPI."""
    index = text.index(character)
    left, bottom, right, top = page.get_textpage().get_charbox(index)
    scale = DPI / 72
    height = page.get_height()
    return (int(left * scale), int((height - top) * scale), int(right * scale) + 1, int((height - bottom) * scale) + 1)


def dark_pixels(image: Image.Image) -> int:
    return sum(image.point(lambda value: 255 if value < 128 else 0).histogram()[255:])


def unembedded_chinese_pdf(text: str) -> bytes:
    """A minimal PDF that names a standard Chinese font (STSong-Light) without embedding it."""
    content = f"BT /F1 40 Tf 10 30 Td <{text.encode('utf-16-be').hex()}> Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 100]/Resources<</Font<</F1 4 0 R>>>>/Contents 5 0 R>>",
        b"<</Type/Font/Subtype/Type0/BaseFont/STSong-Light/Encoding/UniGB-UCS2-H/DescendantFonts[6 0 R]>>",
        b"<</Length %d>>stream\n" % len(content) + content + b"\nendstream",
        b"<</Type/Font/Subtype/CIDFontType0/BaseFont/STSong-Light"
        b"/CIDSystemInfo<</Registry(Adobe)/Ordering(GB1)/Supplement 4>>/FontDescriptor 7 0 R>>",
        b"<</Type/FontDescriptor/FontName/STSong-Light/Flags 6/FontBBox[0 -200 1000 900]/ItalicAngle 0"
        b"/Ascent 880/Descent -120/CapHeight 700/StemV 80>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# -- fonts ----------------------------------------------------------------------------------------------------------


def test_pinned_font_packages_hold_the_faces_the_module_expects() -> None:
    package, name, face = CJK_FONT
    cjk = TTFont(_font_file(package, name), fontNumber=face, lazy=True)
    assert cjk["name"].getDebugName(4) == "Noto Sans CJK SC"
    assert "SIL Open Font License" in cjk["name"].getDebugName(13)
    assert all(ord(c) in cjk.getBestCmap() for c in "访问申请表王小明北京市朝阳区")
    package, name, face = LATIN_FONT
    latin = TTFont(_font_file(package, name), fontNumber=face, lazy=True)
    assert latin["name"].getDebugName(1) == "Noto Sans"
    assert all(ord(c) in latin.getBestCmap() for c in "NúñezZoëMüllerŁukaszDvořák")


def test_every_font_is_embedded(sample_pdf: bytes, opened: pdfium.PdfDocument) -> None:
    fonts: dict[str, bool] = {}
    for index in range(len(opened)):
        for obj in opened[index].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]):
            font = pdfium_c.FPDFTextObj_GetFont(obj.raw)
            size = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
            buffer = ctypes.create_string_buffer(size)
            pdfium_c.FPDFFont_GetBaseFontName(font, buffer, size)
            fonts[buffer.value.decode()] = bool(pdfium_c.FPDFFont_GetIsEmbedded(font))
    # Subset fonts are named TAG+Name.
    assert {name.split("+", 1)[1] for name in fonts} == {"NotoSans", "NotoSansCJKSC"}
    assert all(fonts.values()), fonts
    # Each font descriptor points at a font program in the file: TrueType (Noto Sans), CFF (Noto Sans CJK).
    descriptors = [obj for obj in sample_pdf.split(b"endobj") if b"/Type /FontDescriptor" in obj]
    programs = sorted(re.search(rb"/(FontFile[23]?) \d+ 0 R", obj).group(1) for obj in descriptors)
    assert programs == [b"FontFile2", b"FontFile3"]


# -- rendering ------------------------------------------------------------------------------------------------------


def glyph_images(pdf: bytes, tmp_path: Path, name: str, characters: str) -> dict[str, Image.Image]:
    """Page 1 rendered without system fonts, cut into the boxes of `characters` (from the PDF's text layer)."""
    image = render_without_system_fonts(pdf, tmp_path, name)
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    text = page_text(document)
    return {character: image.crop(char_box_px(page, text, character)) for character in characters}


def drawn_and_distinct(glyphs: dict[str, Image.Image]) -> bool:
    """Each box is inked as an ideograph is, and no two look alike (as one "missing glyph" box repeated would)."""
    first, *others = glyphs.values()
    area = first.width * first.height
    inked = all(dark_pixels(glyph) > 0.15 * glyph.width * glyph.height for glyph in glyphs.values())
    distinct = all(
        dark_pixels(ImageChops.invert(ImageChops.difference(first, other.resize(first.size)))) > 0.05 * area
        for other in others
    )
    return inked and distinct


def test_renderer_sees_no_system_fonts(tmp_path: Path) -> None:
    """Control: the same check on Chinese in a font that is not embedded fails, fonts-noto-cjk installed or not."""
    control = unembedded_chinese_pdf("王小明")
    assert dark_pixels(render_without_system_fonts(control, tmp_path, "control")) == 0
    assert not drawn_and_distinct(glyph_images(control, tmp_path, "control", "王小明"))


def test_chinese_glyphs_render_from_the_embedded_font(sample_pdf: bytes, tmp_path: Path) -> None:
    assert drawn_and_distinct(glyph_images(sample_pdf, tmp_path, "sample", "王明朝"))
    # Latin with accents renders too, from Noto Sans.
    latin = glyph_images(sample_pdf, tmp_path, "sample", "ëŁř")
    assert all(dark_pixels(glyph) > 0 for glyph in latin.values())


def test_nothing_is_drawn_outside_the_margins(opened: pdfium.PdfDocument) -> None:
    page = opened[0]
    textpage = page.get_textpage()
    width = page.get_width()
    margin = 18 * 72 / 25.4  # 18 mm in points
    for index in range(textpage.count_chars()):
        left, _bottom, right, _top = textpage.get_charbox(index)
        if right > left:  # generated characters (line ends) have empty boxes
            assert margin - 1 <= left, textpage.get_text_range(index, 1)
            assert right <= width - margin + 1, textpage.get_text_range(index, 1)


# -- text and metadata ----------------------------------------------------------------------------------------------


def test_text_is_extractable(opened: pdfium.PdfDocument) -> None:
    text = page_text(opened)
    for expected in ("访问申请表", "王小明", "北京市朝阳区", "Núñez", "Zoë", "Müller", "Łukasz Dvořák", "Purpose 目的"):
        assert expected in text, expected
    # The 64-character hash was broken across lines inside its column, and nothing was lost.
    assert SHA256 in "".join(text.split())


def test_footer_has_document_id_generation_time_and_page_numbers(opened: pdfium.PdfDocument) -> None:
    text = page_text(opened)
    assert "AR-2026-0042" in text
    assert "2026-03-01 09:30 UTC" in text  # 17:30 at UTC+8, printed in UTC
    assert "Confidential 机密" in text
    assert f"Page 1 of {len(opened)}" in text


def test_metadata(opened: pdfium.PdfDocument) -> None:
    metadata = opened.get_metadata_dict()
    assert metadata["Title"] == "Access request 访问申请表"
    assert metadata["Author"] == "Custody"
    assert metadata["Subject"] == "Printable application form"
    assert metadata["CreationDate"] == "D:20260301093000Z"


def test_long_table_repeats_its_header_and_numbers_every_page() -> None:
    doc = PdfDocument(title="Chain of custody", document_id="EP-7", generated_at=GENERATED, page_label="{page}/{pages}")
    doc.add_table(["Time 时间", "Event 事件"], [[f"10:{i:02d}", f"Copy {i} 复制 · {SHA256}"] for i in range(60)])
    document = pdfium.PdfDocument(doc.render())
    pages = len(document)
    assert pages >= 2
    for index in range(pages):
        text = page_text(document, index)
        assert "Time 时间" in text
        assert f"{index + 1}/{pages}" in text
        assert "EP-7" in text


def test_same_content_same_bytes() -> None:
    first, second = sample_document().render(), sample_document().render()
    assert first == second
    earlier = PdfDocument(title="Access request", document_id="AR-2026-0042", generated_at=GENERATED)
    later = PdfDocument(title="Access request", document_id="AR-2026-0042", generated_at=GENERATED + timedelta(1))
    assert earlier.render() != later.render()


def test_decomposed_accents_are_composed() -> None:
    doc = PdfDocument(title="t", document_id="D-1", generated_at=GENERATED)
    doc.add_paragraph("Zoe\u0308 Mu\u0308ller")
    text = page_text(pdfium.PdfDocument(doc.render()))
    assert "Zoë Müller" in text


def test_characters_no_font_has_are_reported() -> None:
    doc = PdfDocument(title="t", document_id="D-1", generated_at=GENERATED)
    doc.add_paragraph("Guest note 备注 🙂")
    doc.render()
    assert doc.missing_characters == frozenset("🙂")


def test_sample_document_reports_no_missing_characters() -> None:
    doc = sample_document()
    doc.render()
    assert doc.missing_characters == frozenset()


# -- API contract ---------------------------------------------------------------------------------------------------


def test_generated_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PdfDocument(title="t", document_id="D-1", generated_at=datetime(2026, 3, 1, 9, 30))


def test_render_is_final() -> None:
    doc = PdfDocument(title="t", document_id="D-1", generated_at=datetime(2026, 3, 1, tzinfo=UTC))
    pdf = doc.render()
    assert doc.render() == pdf
    with pytest.raises(RuntimeError, match="rendered"):
        doc.add_paragraph("too late")


@pytest.mark.parametrize(
    ("header", "rows", "widths", "message"),
    [
        ([], [], None, "header row"),
        (["a", "b"], [["only one"]], None, "one cell per header column"),
        (["a", "b"], [["x", "y"]], (1,), "one share per header column"),
        (["a", "b"], [["x", "y"]], (1, 0), "positive"),
    ],
)
def test_table_rejects_bad_shapes(
    header: list[str], rows: list[list[str]], widths: tuple[float, ...] | None, message: str
) -> None:
    doc = PdfDocument(title="t", document_id="D-1", generated_at=GENERATED)
    with pytest.raises(ValueError, match=message):
        doc.add_table(header, rows, col_widths=widths)


@pytest.mark.parametrize(
    ("line", "pieces"),
    [
        ("Zoë Müller", ["Zoë", " ", "Müller"]),
        ("王小明", ["王", "小", "明"]),
        ("lobby大堂 14:00", ["lobby", "大", "堂", " ", "14:00"]),
        # No line may start with closing punctuation or end with opening punctuation.
        ("目的，不复制。", ["目", "的，", "不", "复", "制。"]),
        ("（王小明）", ["（王", "小", "明）"]),
    ],
)
def test_break_pieces(line: str, pieces: list[str]) -> None:
    assert _break_pieces(line) == pieces
