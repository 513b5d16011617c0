"""Every error of /api/v1/ has one shape: {"code": ..., "detail": [{"field": ..., "message": ...}]}.

Bad input is a 400 naming the field, whether the JSON does not parse, does not match the schema (unknown field,
wrong type, missing field) or breaks a rule of the domain (``RequestError``). A request in the wrong state for the
step, or a step the caller may not take on it (four eyes), is a 409. The response tables below go into the OpenAPI
document, so each operation lists the statuses it can answer with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from custody.api.auth import ApiForbidden, TooManyInvalidTokens
from custody.api.schemas import ErrorOut
from custody.audit.log import AuditWriteError
from custody.requests.actions import RequestError, TransitionRefused
from custody.requests.grants import GrantRefused

E = TypeVar("E", bound=Exception)

# 429: the caller's address sent too many refused tokens (custody.api.auth), whatever the operation.
ERRORS_FOR_READ: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut, 503: ErrorOut}
ERRORS_FOR_OBJECT: dict[int, Any] = {**ERRORS_FOR_READ, 404: ErrorOut}
ERRORS_FOR_CREATE: dict[int, Any] = {**ERRORS_FOR_READ, 413: ErrorOut}
ERRORS_FOR_STEP: dict[int, Any] = {**ERRORS_FOR_OBJECT, 409: ErrorOut}
ERRORS_FOR_BODY: dict[int, Any] = {**ERRORS_FOR_STEP, 413: ErrorOut}

# The domain names some inputs as the web form does; the API's body nests them.
FIELD_NAMES = {"contact_name": "contact.name", "contact_email": "contact.email", "contact_phone": "contact.phone"}
# Why a grant refused a use (custody.requests.grants), said in words.
GRANT_REFUSALS = {
    "not_the_holder": _("This grant is not yours."),
    "revoked": _("This grant has been revoked."),
    "expired": _("This grant has expired."),
    "quota_used": _("This grant's uses are used up."),
    "wrong_kind": _("This grant does not allow this kind of use."),
}


def error_body(code: str, *items: tuple[str, Any]) -> dict[str, Any]:
    return {"code": code, "detail": [{"field": field, "message": str(message)} for field, message in items]}


def _field_of(location: tuple[Any, ...]) -> str:
    """ninja's error location -> the name the caller used: ("body", "payload", "guests", 0) -> "guests.0"."""
    source, *rest = location
    if source == "body":
        rest = rest[1:]  # the view's parameter name
        return ".".join(str(part) for part in rest) or "body"
    return ".".join(str(part) for part in rest) or str(source)


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return str(_("Unknown field."))
    if error.get("type") == "missing":
        return str(_("This field is required."))
    return str(error.get("msg", _("Not a valid value.")))


def install(api: NinjaAPI) -> None:
    def respond(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
        response = api.create_response(request, body, status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="custody"'
        return response

    def validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        items = [(_field_of(tuple(error.get("loc", ("body",)))), _message(error)) for error in exc.errors]
        return respond(request, 400, error_body("invalid", *items))

    def request_error(request: HttpRequest, exc: RequestError) -> HttpResponse:
        if isinstance(exc, TransitionRefused):
            return respond(request, 409, error_body("conflict", ("", exc.message)))
        return respond(request, 400, error_body("invalid", (FIELD_NAMES.get(exc.field, exc.field), exc.message)))

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400:  # ninja: the body is not JSON
            return respond(request, 400, error_body("invalid", ("body", _("The request body is not valid JSON."))))
        return respond(request, exc.status_code, error_body("error", ("", str(exc))))

    def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = str(exc) if str(exc) != "Unauthorized" else _("The API token is not valid.")
        return respond(request, 401, error_body("unauthorized", ("Authorization", message)))

    def too_many_invalid_tokens(request: HttpRequest, exc: TooManyInvalidTokens) -> HttpResponse:
        response = respond(request, 429, error_body("rate_limited", ("Authorization", exc.message)))
        response["Retry-After"] = str(exc.retry_after)
        return response

    def forbidden(request: HttpRequest, exc: ApiForbidden) -> HttpResponse:
        return respond(request, 403, error_body(exc.code, ("", exc.message)))

    def django_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return respond(request, 403, error_body("role_not_allowed", ("", _("You may not do this."))))

    def grant_refused(request: HttpRequest, exc: GrantRefused) -> HttpResponse:
        if exc.code == "no_such_grant":
            return respond(request, 404, error_body("not_found", ("", _("No such grant."))))
        message = GRANT_REFUSALS.get(exc.code, _("This grant does not allow this use."))
        return respond(request, 403, error_body(exc.code, ("", message)))

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        message = str(exc) if exc.args else _("Not found.")
        return respond(request, 404, error_body("not_found", ("", message)))

    def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        limit = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // (1024 * 1024)
        message = _("The request body is larger than %(mb)s MB.") % {"mb": limit}
        return respond(request, 413, error_body("too_large", ("body", message)))

    def unavailable(request: HttpRequest, exc: AuditWriteError) -> HttpResponse:
        # Nothing was changed or shown: the transaction that needed the audit entry rolled back.
        message = _("The audit log cannot be written just now, so nothing was done. Try again later.")
        return respond(request, 503, error_body("unavailable", ("", message)))

    def on(exc_class: type[E], handler: Callable[[HttpRequest, E], HttpResponse]) -> None:
        # ninja types a handler's argument as "the exception or its class"; it is always called with an instance.
        api.add_exception_handler(exc_class, handler)  # type: ignore[arg-type]

    on(ValidationError, validation)
    on(RequestError, request_error)
    on(HttpError, http_error)
    on(AuthenticationError, unauthorized)
    on(TooManyInvalidTokens, too_many_invalid_tokens)
    on(ApiForbidden, forbidden)
    on(PermissionDenied, django_forbidden)
    on(GrantRefused, grant_refused)
    on(Http404, not_found)
    on(RequestDataTooBig, too_large)
    on(AuditWriteError, unavailable)
