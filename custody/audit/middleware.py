from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from custody.audit.log import AuditWriteError, client_ip_var


class AuditMiddleware:
    """Give audit entries the client's address, and fail closed when an entry cannot be written."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = client_ip_var.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            client_ip_var.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, AuditWriteError):
            # Nothing was changed or shown: the transaction that needed the entry rolled back.
            return render(request, "audit/unavailable.html", status=503)
        return None
