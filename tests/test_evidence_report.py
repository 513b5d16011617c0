"""The chain-of-custody report inside a package: English and Chinese, the request, approvals, grant, options, each
file's hash, requested vs actual windows and the log; rendered to PNG with PDFium."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from custody.audit import keys
from custody.evidence import exporting, package
from custody.evidence.models import ExportClip
from tests.conftest import Hotel
from tests.test_evidence_fixtures import export_of, make_footage


@pytest.mark.django_db
def test_report_is_bilingual_and_names_every_hash(hotel: Hotel, tmp_path: Path, settings: Any) -> None:
    settings.CUSTODY_HOME = tmp_path / "home"
    settings.CUSTODY_HOME.mkdir(mode=0o700)
    settings.CUSTODY_AUDIT_KEY_FILE = None
    keys._load.cache_clear()
    footage = make_footage(hotel, tmp_path)
    export = exporting.run_export(export_of(footage, watermark=True).pk)
    assert export.status == "done", export.error_code
    with zipfile.ZipFile(package.package_path(export)) as archive:
        pdf_bytes = archive.read("chain-of-custody.pdf")

    document = pdfium.PdfDocument(pdf_bytes)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    flat = "".join(text.split())
    for expected in [
        "Chainofcustody",
        "证据保管链",
        "Approvals",
        "审批",
        "Whodidwhat",
        footage.grant.request.number,
        "security_incident",
        str(export.pk),
        "Requestedwindow",
        "Actualwindow",
        "11:00:01",
        "11:00:02",
    ]:
        assert expected in flat, expected  # fmt: skip  (times in the hotel's zone, Madrid: UTC+1)
    for clip in ExportClip.objects.filter(export=export):
        assert clip.sha256 in flat, clip.path
    assert "Footageexportqueued" in flat  # the log of who did what
    out = tmp_path / "report"
    out.mkdir()
    for index in range(len(document)):
        image = document[index].render(scale=1.5).to_pil()
        image.save(out / f"page-{index + 1}.png")
        assert image.convert("L").getextrema()[0] < 60  # something is printed on every page
    document.close()
