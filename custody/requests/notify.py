"""E-mails about requests: to the approvers when a request waits for them, to the requester when it is decided or
needs information, to the privacy officers when an emergency grant is opened.

Messages carry the request number, type, status and a link, never personal data (no names, no purpose text): an
inbox is not a safe place for it. They are sent after the transaction commits; a mail server that is down does not
undo a decision (the failure is logged).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.requests.models import AccessRequest, Grant

log = logging.getLogger(__name__)


def _link(request: AccessRequest) -> str:
    """The request page's address as people reach it (CUSTODY_PUBLIC_URL): an e-mail has no request to take the
    host from, and a Host header is the sender's to choose."""
    base = str(settings.CUSTODY_PUBLIC_URL).rstrip("/")
    return base + reverse("requests:detail", kwargs={"code": request.property.code, "pk": request.pk})


def _people_with_roles(request: AccessRequest, roles: Iterable[str]) -> list[User]:
    return list(
        User.objects.filter(
            is_active=True,
            role_assignments__property=request.property,
            role_assignments__role__in=list(roles),
        )
        .exclude(email="")
        .distinct()
    )


def _send(users: Iterable[User], subject: str, body: str) -> int:
    sent = 0
    for user in users:
        if not user.email:
            continue
        try:
            sent += send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        except Exception:  # logged; the decision stands
            log.exception("could not send the request e-mail to user %s", user.pk)
    return sent


def _describe(request: AccessRequest) -> tuple[str, str]:
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("[Custody] %(number)s: %(status)s") % {
            "number": request.number,
            "status": request.get_status_display(),
        }
        body = _(
            "Access request %(number)s (%(type)s) at %(property)s is now: %(status)s.\n"
            "Due: %(due)s\n\nOpen it in Custody: %(link)s\n"
        ) % {
            "number": request.number,
            "type": request.get_request_type_display(),
            "property": request.property.name,
            "status": request.get_status_display(),
            "due": request.due_at.strftime("%Y-%m-%d %H:%M UTC") if request.due_at else "-",
            "link": _link(request),
        }
    return subject, body


def submitted(request_id: uuid.UUID) -> int:
    request = AccessRequest.objects.select_related("property").get(pk=request_id)
    approvers = [u for u in _people_with_roles(request, request.approver_roles) if u.pk != request.requester_id]
    return _send(approvers, *_describe(request))


def needs_information(request_id: uuid.UUID) -> int:
    request = AccessRequest.objects.select_related("property", "requester").get(pk=request_id)
    return _send([request.requester], *_describe(request))


def decided(request_id: uuid.UUID) -> int:
    request = AccessRequest.objects.select_related("property", "requester").get(pk=request_id)
    return _send([request.requester], *_describe(request))


def break_glass(grant_id: uuid.UUID) -> int:
    grant = Grant.objects.select_related("request__property").get(pk=grant_id)
    request = grant.request
    officers = _people_with_roles(request, [Role.PRIVACY_OFFICER])
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("[Custody] Emergency footage grant opened: %(number)s") % {"number": request.number}
        body = _(
            "An emergency (break-glass) grant was opened at %(property)s without prior approval. It ends at "
            "%(until)s and must be reviewed after the fact.\n\nReview it in Custody: %(link)s\n"
        ) % {
            "property": request.property.name,
            "until": grant.valid_until.strftime("%Y-%m-%d %H:%M UTC"),
            "link": _link(request),
        }
    return _send(officers, subject, body)
