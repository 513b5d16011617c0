"""Forms of the stay import pages: the upload (kept in memory only) and the column mapping."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from django import forms
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from custody.guests import import_fields, importer
from custody.guests.imports import MAX_UPLOAD_BYTES

ACCEPTED_SUFFIXES = (".csv", ".txt")


class MemoryUploadHandler(FileUploadHandler):
    """Keeps an uploaded file in memory, never in a temporary file (it holds personal data), up to
    MAX_UPLOAD_BYTES; a bigger file is skipped and ``too_big`` says so."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.too_big = False
        self.buffer = io.BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.buffer.tell() + len(raw_data) > MAX_UPLOAD_BYTES:
            self.too_big = True
            self.buffer = io.BytesIO()
            raise SkipFile
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile | None:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("PMS export (CSV file)"),
        help_text=_(
            "UTF-8 or GB18030 text with a header row; columns separated by commas, semicolons or tabs; .csv or .txt, "
            "at most 20 MB. Nothing is imported before you have checked the rows."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def __init__(self, *args: Any, too_big: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.too_big = too_big

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.too_big:
            self.errors.pop("file", None)
            self.add_error("file", _("The file is larger than 20 MB; split it into smaller files."))
        return cleaned

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if PurePath(upload.name or "").suffix.lower() not in ACCEPTED_SUFFIXES:
            raise forms.ValidationError(_("Only .csv and .txt files are accepted."))
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 20 MB; split it into smaller files."))
        return upload


class MappingForm(forms.Form):
    """One select per column of the file: the field it fills, or nothing."""

    def __init__(self, *args: Any, headers: Sequence[str], mapping: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = list(headers)
        choices: list[tuple[str, Any]] = [("", _("(not imported)"))]
        for field in import_fields.FIELDS:
            label = _("%(field)s (required)") % {"field": field.label} if field.required else field.label
            choices.append((field.name, label))
        for index, header in enumerate(self.headers):
            self.fields[self.field_name(index)] = forms.ChoiceField(
                label=header or _("Column %(number)s") % {"number": index + 1},
                choices=choices,
                required=False,
                initial=mapping[index] if index < len(mapping) else "",
            )

    @staticmethod
    def field_name(index: int) -> str:
        return f"column_{index}"

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(self.field_name(i), "") for i in range(len(self.headers))]

    def clean(self) -> dict[str, Any]:
        """The mapping's errors, naming fields by their labels (the command line names them by code)."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        chosen = [name for name in self.mapping() if name]
        twice = [name for name in import_fields.FIELD_BY_NAME if chosen.count(name) > 1]
        if twice:
            raise forms.ValidationError(str(importer.FILE_ERRORS["mapped_twice"]) % {"field": _label(twice[0])})
        missing = [name for name in import_fields.REQUIRED_FIELDS if name not in chosen]
        if missing:
            labels = ", ".join(_label(name) for name in missing)
            raise forms.ValidationError(str(importer.FILE_ERRORS["missing_columns"]) % {"fields": labels})
        try:
            importer.check_mapping(self.headers, self.mapping())  # the importer's own rule has the last word
        except importer.ImportFileError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


def _label(name: str) -> str:
    return str(import_fields.FIELD_BY_NAME[name].label)
