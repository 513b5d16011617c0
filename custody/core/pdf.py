"""Printable A4 documents (forms, decisions, reports) as PDF bytes, English and Chinese alike.

A document is built top to bottom and rendered once::

    doc = PdfDocument(title="Access request", document_id="AR-2026-0042", generated_at=now)
    doc.add_title("Access request", subtitle="访问申请表")
    doc.add_key_values([("Requester", "王小明"), ("Purpose", "Incident 17")])
    doc.add_table(["Camera", "From", "To"], rows)
    doc.add_signatures([Signatory(role="Approved by", name="Zoë Müller")])
    pdf_bytes = doc.render()

Every page carries a footer line (document id, generation time in UTC, an optional note) and a page number.
Callers translate their own labels; this module prints what it is given and knows nothing of requests or footage.

Why these libraries and fonts
-----------------------------
The PDFs must show Chinese on any machine, including one without Debian's fonts-noto-cjk, and the build may not
download anything at run time. So every glyph comes from a font the PDF embeds (as a subset), and the fonts come
from pinned PyPI packages, never from the system:

- **fpdf2** (LGPL-3.0, pure Python; needs fontTools, Pillow, defusedxml) writes the PDF. It embeds TrueType and CFF
  OpenType fonts as subsets, reads font collections (.ttc), and falls back to another font per character, so Latin
  and Chinese in one line each get a font that has them. reportlab (BSD) was the alternative: its TTF embedding
  cannot read CFF-outline fonts such as Noto Sans CJK, and its built-in Chinese fonts (STSong-Light) are not
  embedded at all, which is exactly what must not happen.
- **noto-cjk-sans-otc** (SIL OFL 1.1, wheel 15.5 MB) ships Google's Noto Sans CJK collection unmodified, licence
  included. Face 2 is "Noto Sans CJK SC": the Simplified Chinese glyph forms, with all ~44,000 CJK code points, so
  rare characters in names and Traditional characters print too. It was the smallest clean option: the Noto Sans
  SC package `pylopdf-fonts-zh-cn` is 17 MB; `paperang-p2-fonts-cjk` (WenQuanYi Micro Hei, 2.3 MB) relabels an
  Apache/GPL font as MIT and ships no font licence.
- **fontpkg-noto-sans** (SIL OFL 1.1, wheel 2.6 MB) ships Noto Sans, used for Latin, Greek and Cyrillic. The CJK
  fonts lack Latin Extended-A (Ł, ő, č: Polish, Czech, Hungarian guests' names). It is a variable font; it is used
  at its default instance (Regular), because making a static Bold instance with fontTools takes seconds a
  document. Emphasis (titles, headings) is therefore drawn as a stroked outline ("faux bold"), which also thickens
  Chinese, for which no bold face is shipped.

Lines are broken here rather than by fpdf2, which breaks only at spaces: a line may also break between two Chinese
characters (not before closing nor after opening punctuation), and a word too long for its column (a SHA-256 in a
table cell) breaks anywhere. Text is normalised to NFC so that a decomposed "Zoë" prints as one glyph.
Characters that no embedded font can draw (emoji, for instance) print as an empty box;
`PdfDocument.missing_characters` lists them after rendering. Output is deterministic: the same content and
`generated_at` give the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from fpdf import FPDF, FontFace
from fpdf.enums import Align, TableBordersLayout, TextMode, VAlign, XPos, YPos

__all__ = ["FontMissingError", "PdfDocument", "Signatory"]

# (package, file inside it, face index in a collection)
LATIN_FONT = ("fontpkg_noto_sans", "files/NotoSans[wdth,wght].ttf", 0)
CJK_FONT = ("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", 2)  # face 2 = "Noto Sans CJK SC"

_LATIN = "latin"
_CJK = "cjk"

# Sizes in points; lengths in millimetres (the FPDF unit).
_BODY_PT = 10
_SMALL_PT = 8
_TITLE_PT = 18
_SUBTITLE_PT = 12
_HEADING_PT = 12
_LINE_FACTOR = 1.45  # line height / font size
_MARGIN = 18
_FOOTER_FROM_BOTTOM = 12

_TEXT = (20, 20, 20)
_MUTED = (95, 95, 95)
_RULE = (170, 170, 170)
_GRID = (110, 110, 110)
_HEADER_FILL = (232, 232, 232)
_KEY_VALUE_PADDING = (1.6, 1.5)  # (top and bottom, left and right)
_TABLE_PADDING = (1.4, 1.5)

# A line must not start with closing punctuation nor end with opening punctuation (simplified kinsoku rules).
_NO_LINE_START = frozenset(
    "，。、；：？！）》」』】〉〕］｝’”…‥·・ー々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ%‰,.;:?!)]}"
)
_NO_LINE_END = frozenset("（《「『【〈〔［｛‘“([{")


class FontMissingError(RuntimeError):
    """A font package this module embeds is not installed (see requirements/base.lock)."""


def _font_file(package: str, name: str) -> Path:
    try:
        path = Path(str(resources.files(package).joinpath(name)))
    except ModuleNotFoundError as exc:
        raise FontMissingError(f"font package {package!r} is not installed") from exc
    if not path.is_file():
        raise FontMissingError(f"font file {name!r} is missing from package {package!r}")
    return path


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _is_wide(character: str) -> bool:
    return unicodedata.east_asian_width(character) in ("W", "F")


def _break_pieces(line: str) -> list[str]:
    """Split one line into pieces between which it may break; each run of whitespace is a piece of its own."""
    pieces: list[str] = []
    current = ""
    for character in line:
        if current:
            previous = current[-1]
            # Break between a space run and the rest, and around Chinese characters (kinsoku permitting).
            if character.isspace() != previous.isspace() or (
                not character.isspace()
                and (_is_wide(previous) or _is_wide(character))
                and character not in _NO_LINE_START
                and previous not in _NO_LINE_END
            ):
                pieces.append(current)
                current = ""
        current += character
    if current:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class Signatory:
    """One place to sign (or a decision already taken): role, name, and a line such as a date."""

    role: str
    name: str = ""
    detail: str = ""


class _Canvas(FPDF):
    """FPDF with Custody's footer. Pages are A4 portrait, lengths in mm."""

    def __init__(self, footer_text: str, page_label: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.page_label = page_label

    def footer(self) -> None:
        self.set_y(-_FOOTER_FROM_BOTTOM - 2)
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_font(_LATIN, size=_SMALL_PT)
        self.set_text_color(*_MUTED)
        label_width = 30
        self.set_y(-_FOOTER_FROM_BOTTOM)
        self.cell(self.epw - label_width, 5, self.footer_text, align=Align.L)
        label = self.page_label.format(page=self.page_no(), pages=self.str_alias_nb_pages)
        self.cell(label_width, 5, label, align=Align.R)


class PdfDocument:
    """An A4 document built top to bottom; `render()` returns the PDF bytes."""

    def __init__(
        self,
        *,
        title: str,
        document_id: str,
        generated_at: datetime,
        subject: str = "",
        author: str = "Custody",
        language: str = "en",
        footer_note: str = "",
        page_label: str = "{page} / {pages}",
    ) -> None:
        """
        title, subject, author and language (BCP 47, e.g. "zh-CN") go into the PDF metadata; the title is not
        printed (use add_title). document_id and generated_at (timezone-aware) are printed in every footer,
        followed by footer_note. page_label is a format string with {page} and {pages}.
        """
        if generated_at.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware")
        generated_utc = generated_at.astimezone(UTC)
        footer_parts = [_clean(document_id), generated_utc.strftime("%Y-%m-%d %H:%M UTC")]
        if footer_note:
            footer_parts.append(_clean(footer_note))
        self._pdf = _Canvas(footer_text="  ·  ".join(footer_parts), page_label=_clean(page_label))
        self._rendered: bytes | None = None
        self.missing_characters: frozenset[str] = frozenset()

        pdf = self._pdf
        package, name, face = LATIN_FONT
        pdf.add_font(_LATIN, "", _font_file(package, name), collection_font_number=face)
        package, name, face = CJK_FONT
        pdf.add_font(_CJK, "", _font_file(package, name), collection_font_number=face)
        # A character missing from the current font is drawn with the first fallback font that has it.
        pdf.set_fallback_fonts([_CJK], exact_match=False)

        pdf.set_title(_clean(title))
        pdf.set_author(_clean(author))
        pdf.set_creator("Custody")
        if subject:
            pdf.set_subject(_clean(subject))
        pdf.set_lang(language)
        pdf.set_creation_date(generated_utc)

        pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        pdf.set_auto_page_break(auto=True, margin=_MARGIN + 4)
        pdf.add_page()
        self._set_body_font()

    # -- content ------------------------------------------------------------------------------------------------

    def add_title(self, title: str, subtitle: str = "") -> None:
        """The document's heading, optionally with a smaller second line (e.g. the title in Chinese)."""
        pdf = self._writable()
        with self._emphasis(_TITLE_PT):
            self._text_block(title, _TITLE_PT)
        if subtitle:
            pdf.set_font(_LATIN, size=_SUBTITLE_PT)
            pdf.set_text_color(*_MUTED)
            self._text_block(subtitle, _SUBTITLE_PT)
        pdf.ln(2)
        pdf.set_draw_color(*_TEXT)
        pdf.set_line_width(0.5)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(5)
        self._set_body_font()

    def add_heading(self, text: str) -> None:
        """A section heading; kept on the same page as at least two lines of what follows."""
        pdf = self._writable()
        self._keep_room(self._line(_HEADING_PT) + 3 * self._line(_BODY_PT))
        pdf.ln(3)
        with self._emphasis(_HEADING_PT):
            self._text_block(text, _HEADING_PT)
        pdf.ln(1)
        self._set_body_font()

    def add_paragraph(self, text: str, *, muted: bool = False) -> None:
        """Wrapped body text; blank lines in `text` separate paragraphs."""
        pdf = self._writable()
        self._set_body_font()
        if muted:
            pdf.set_text_color(*_MUTED)
        for block in _clean(text).split("\n\n"):
            self._text_block(block.strip("\n"), _BODY_PT)
            pdf.ln(2)
        self._set_body_font()

    def add_key_values(self, rows: Sequence[tuple[str, str]], *, key_share: float = 0.32) -> None:
        """Label/value pairs, the labels in a narrower muted column; long values wrap."""
        pdf = self._writable()
        if not rows:
            return
        if not 0 < key_share < 1:
            raise ValueError("key_share must be between 0 and 1")
        self._set_body_font()
        pdf.set_draw_color(*_RULE)
        pdf.set_line_width(0.2)
        text_widths = [pdf.epw * share - 2 * _KEY_VALUE_PADDING[1] for share in (key_share, 1 - key_share)]
        with pdf.table(
            col_widths=(key_share, 1 - key_share),
            first_row_as_headings=False,
            borders_layout=TableBordersLayout.HORIZONTAL_LINES,
            line_height=self._line(_BODY_PT),
            padding=_KEY_VALUE_PADDING,
            text_align=Align.L,
            v_align=VAlign.T,
            width=pdf.epw,
        ) as table:
            for key, value in rows:
                row = table.row()
                row.cell(self._wrap(key, text_widths[0]), style=FontFace(color=_MUTED))
                row.cell(self._wrap(value, text_widths[1]))
        pdf.ln(4)

    def add_table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        col_widths: Sequence[float] | None = None,
    ) -> None:
        """A grid with a shaded header row (repeated on every page it spans); cells wrap.

        col_widths are relative shares (e.g. (1, 2, 2)); by default all columns are equally wide.
        """
        pdf = self._writable()
        if not header:
            raise ValueError("a table needs a header row")
        if any(len(row) != len(header) for row in rows):
            raise ValueError("every row needs one cell per header column")
        if col_widths is not None and len(col_widths) != len(header):
            raise ValueError("col_widths needs one share per header column")
        shares = list(col_widths) if col_widths is not None else [1.0] * len(header)
        if any(share <= 0 for share in shares):
            raise ValueError("col_widths must be positive")
        text_widths = [pdf.epw * share / sum(shares) - 2 * _TABLE_PADDING[1] for share in shares]
        self._set_body_font()
        pdf.set_draw_color(*_GRID)
        pdf.set_line_width(0.2)
        self._keep_room(4 * self._line(_BODY_PT))
        with pdf.table(
            col_widths=tuple(shares),
            headings_style=FontFace(fill_color=_HEADER_FILL, color=_TEXT),
            borders_layout=TableBordersLayout.ALL,
            line_height=self._line(_BODY_PT),
            padding=_TABLE_PADDING,
            text_align=Align.L,
            v_align=VAlign.T,
            width=pdf.epw,
            repeat_headings=1,
        ) as table:
            heading = table.row()
            for text, width in zip(header, text_widths, strict=True):
                heading.cell(self._wrap(text, width))
            for cells in rows:
                row = table.row()
                for text, width in zip(cells, text_widths, strict=True):
                    row.cell(self._wrap(text, width))
        pdf.ln(4)

    def add_signatures(self, signatories: Sequence[Signatory], *, per_row: int = 3) -> None:
        """Signature boxes side by side: role, room to sign, a rule, then name and detail under it."""
        pdf = self._writable()
        if per_row < 1:
            raise ValueError("per_row must be at least 1")
        gap, sign_room = 8.0, 16.0
        body_line, name_line, detail_line = self._line(_BODY_PT), self._line(_BODY_PT) - 0.4, self._line(_SMALL_PT)
        columns = min(per_row, len(signatories))
        width = (pdf.epw - gap * (columns - 1)) / max(columns, 1)
        inner = width - 2 * pdf.c_margin
        for start in range(0, len(signatories), per_row):
            group = signatories[start : start + per_row]
            self._set_body_font()
            roles = [self._wrap(signatory.role, inner) for signatory in group]
            names = [self._wrap(signatory.name, inner) for signatory in group]
            pdf.set_font(_LATIN, size=_SMALL_PT)
            details = [self._wrap(signatory.detail, inner) if signatory.detail else "" for signatory in group]
            role_height = body_line * max(role.count("\n") + 1 for role in roles)
            under_height = max(
                name_line * (name.count("\n") + 1) + (detail_line * (detail.count("\n") + 1) if detail else 0)
                for name, detail in zip(names, details, strict=True)
            )
            block_height = role_height + sign_room + 1 + under_height + 6
            self._keep_room(block_height)
            top = pdf.get_y()
            rule_y = top + role_height + sign_room
            for index, (role, name, detail) in enumerate(zip(roles, names, details, strict=True)):
                x = pdf.l_margin + index * (width + gap)
                pdf.set_xy(x, top)
                with self._emphasis(_BODY_PT):
                    pdf.multi_cell(width, body_line, role, new_x=XPos.LEFT, new_y=YPos.NEXT)
                pdf.set_draw_color(*_TEXT)
                pdf.set_line_width(0.3)
                pdf.line(x, rule_y, x + width, rule_y)
                pdf.set_xy(x, rule_y + 1)
                self._set_body_font()
                pdf.multi_cell(width, name_line, name, new_x=XPos.LEFT, new_y=YPos.NEXT)
                if detail:
                    pdf.set_font(_LATIN, size=_SMALL_PT)
                    pdf.set_text_color(*_MUTED)
                    pdf.multi_cell(width, detail_line, detail, new_x=XPos.LEFT, new_y=YPos.NEXT)
            self._set_body_font()
            pdf.set_line_width(0.2)
            pdf.set_xy(pdf.l_margin, top + block_height)

    def add_space(self, height_mm: float = 4) -> None:
        self._writable().ln(height_mm)

    # -- output -------------------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The finished PDF. Call once content is complete; later calls return the same bytes."""
        if self._rendered is None:
            self._rendered = bytes(self._pdf.output())
            missing: set[str] = set()
            for font in self._pdf.fonts.values():
                missing.update(chr(code) for code in getattr(font, "missing_glyphs", ()))
            self.missing_characters = frozenset(missing)
        return self._rendered

    # -- helpers ------------------------------------------------------------------------------------------------

    def _writable(self) -> _Canvas:
        if self._rendered is not None:
            raise RuntimeError("the document has been rendered; build a new one to change it")
        return self._pdf

    @staticmethod
    def _line(size_pt: float) -> float:
        return size_pt * _LINE_FACTOR * 25.4 / 72

    def _text_block(self, text: str, size_pt: float) -> None:
        """Full-width text in the current font, broken into lines by `_wrap`."""
        pdf = self._pdf
        wrapped = self._wrap(text, pdf.epw - 2 * pdf.c_margin)
        pdf.multi_cell(0, self._line(size_pt), wrapped, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _wrap(self, text: str, width: float) -> str:
        """`text` with a newline wherever a line must break to fit `width` mm in the current font.

        Widths add up piece by piece: without text shaping fpdf2 applies no kerning across pieces.
        """
        measure = self._pdf.get_string_width
        width -= 0.05  # stay clear of fpdf2's own wrapping, which would otherwise break again at a space
        lines: list[str] = []
        for source in _clean(text).split("\n"):
            line, line_width, space = "", 0.0, ""
            for piece in _break_pieces(source):
                if piece.isspace():
                    space = piece if line else ""
                    continue
                piece_width = measure(piece)
                space_width = measure(space) if space else 0.0
                if line and line_width + space_width + piece_width > width and piece_width <= width:
                    lines.append(line)
                    line, line_width = "", 0.0
                elif space:
                    line, line_width = line + space, line_width + space_width
                space = ""
                if piece_width <= width:
                    line, line_width = line + piece, line_width + piece_width
                    continue
                for character in piece:  # a word wider than the column: break it anywhere
                    character_width = measure(character)
                    if line and line_width + character_width > width:
                        lines.append(line)
                        line, line_width = "", 0.0
                    line, line_width = line + character, line_width + character_width
            lines.append(line)
        return "\n".join(lines)

    def _set_body_font(self) -> None:
        self._pdf.set_font(_LATIN, size=_BODY_PT)
        self._pdf.set_text_color(*_TEXT)

    def _keep_room(self, height: float) -> None:
        pdf = self._pdf
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()

    @contextmanager
    def _emphasis(self, size_pt: float) -> Iterator[None]:
        """Bold look without a bold font: fill the glyphs and stroke their outline in the text colour."""
        pdf = self._pdf
        pdf.set_font(_LATIN, size=size_pt)
        pdf.set_text_color(*_TEXT)
        pdf.set_draw_color(*_TEXT)
        pdf.set_line_width(size_pt * 0.035 * 25.4 / 72)
        pdf.text_mode = TextMode.FILL_STROKE
        try:
            yield
        finally:
            pdf.text_mode = TextMode.FILL
            pdf.set_line_width(0.2)
