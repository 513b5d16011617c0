"""The audit viewer for auditors, privacy officers and property managers. Every view of it is audited."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from custody.access import AuthedRequest, property_view
from custody.accounts.models import User
from custody.audit import gate, tasks
from custody.audit.events import Action
from custody.audit.forms import AuditFilterForm
from custody.audit.log import latest_tree_head
from custody.audit.models import AuditEntry, AuditVerification
from custody.lib.canonical_json import canonical_json
from custody.lib.merkle import ProofError, inclusion_proof, verify_inclusion
from custody.properties.models import Property

VIEW = "audit.view_log"
PAGE_SIZE = 50
_LARGEST_SEQ = 2**63 - 1  # a BigIntegerField


def entries_visible_at(prop: Property) -> QuerySet[AuditEntry]:
    """Entries about this property, plus property-less ones by its staff or by the system itself."""
    staff = User.objects.filter(role_assignments__property=prop).values("pk")
    return AuditEntry.objects.filter(
        Q(property=prop) | Q(property__isnull=True, actor__in=staff) | Q(property__isnull=True, actor__isnull=True)
    )


def _filtered(prop: Property, form: AuditFilterForm) -> QuerySet[AuditEntry]:
    entries = entries_visible_at(prop).select_related("actor")
    data = form.cleaned_data
    if data.get("actor"):
        entries = entries.filter(actor__username=data["actor"])
    for field, column in (("action", "action"), ("outcome", "outcome"), ("object_type", "object_type"),
                          ("object_id", "object_id"), ("request", "request_ref")):
        if data.get(field):
            entries = entries.filter(**{column: data[field]})
    if data.get("date_from"):
        entries = entries.filter(at__gte=datetime.combine(data["date_from"], time.min, tzinfo=UTC))
    if data.get("date_to"):
        end = datetime.combine(data["date_to"], time.min, tzinfo=UTC) + timedelta(days=1)
        entries = entries.filter(at__lt=end)
    return entries.order_by("-seq")


def _banner() -> AuditVerification | None:
    return AuditVerification.objects.order_by("-id").first()


@require_safe
@property_view()
def audit_log(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    valid = form.is_valid()  # every filter is optional, so no filter at all is valid
    details: dict[str, object] = {"filters": form.used_filters()} if valid else {"invalid_filter": True}
    page = None
    rows: list[AuditEntry] = []
    with gate.guard(request.user, VIEW, prop, Action.AUDIT_LOG_VIEWED, details=details):
        if valid:
            page = Paginator(_filtered(prop, form), PAGE_SIZE).get_page(request.GET.get("page"))
            rows = list(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "rows": rows, "query": query.urlencode(), "verification": _banner(),
               "head": latest_tree_head()}
    return render(request, "audit/log.html", context, status=200 if valid else 400)


def _csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_safe
@property_view()
def audit_export(request: AuthedRequest, prop: Property) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("Invalid filter: %(errors)s") % {"errors": form.errors.as_text()}, status=400,
                            content_type="text/plain; charset=utf-8")
    with gate.guard(request.user, VIEW, prop, Action.AUDIT_LOG_EXPORTED,
                    details={"filters": form.used_filters(), "format": "csv"}):
        rows = list(_filtered(prop, form).values_list(
            "seq", "at", "actor__username", "actor_role", "property_id", "action", "object_type", "object_id",
            "request_ref", "grant_ref", "purpose", "outcome", "client_ip", "leaf_hash"))

    def lines() -> Iterator[str]:
        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())
        yield writer.writerow(["seq", "at_utc", "actor", "actor_role", "property", "action", "object_type",
                               "object_id", "request", "grant", "purpose", "outcome", "client_ip", "leaf_hash"])
        for row in rows:
            yield writer.writerow([_csv_safe(v.isoformat() if isinstance(v, datetime) else v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="custody-audit-{prop.code}.csv"'
    return response


@require_safe
@property_view()
def audit_entry(request: AuthedRequest, prop: Property, seq: int) -> HttpResponse:
    # The role first, then the entry: a user who may not read the log gets the same 403 for every number, and a
    # reader the same 404 for an entry of another property as for one that does not exist. Asking the other way
    # round told anyone which numbers belonged to this property.
    asked = str(seq) if seq <= _LARGEST_SEQ else "out_of_range"  # the URL takes any digits; the column 64
    if not request.user.has_perm(VIEW, prop):
        gate.record_denied(Action.AUDIT_ENTRY_VIEWED, actor=request.user, prop=prop, object_type="audit_entry",
                           object_id=asked, details={"permission": VIEW, "reason": "no_permission"})
        raise PermissionDenied
    entry = entries_visible_at(prop).filter(seq=seq).first() if seq <= _LARGEST_SEQ else None
    if entry is None:
        gate.record_denied(Action.AUDIT_ENTRY_VIEWED, actor=request.user, prop=prop, object_type="audit_entry",
                           object_id=asked, details={"reason": "unknown_entry"})
        raise Http404("No such entry.")
    with gate.guard(request.user, VIEW, prop, Action.AUDIT_ENTRY_VIEWED, object_type="audit_entry",
                    object_id=entry.seq):
        head = latest_tree_head()
        proof: list[str] = []
        proof_ok = None
        if head is not None and entry.seq <= head.tree_size:
            hashes = [bytes.fromhex(h) for h in AuditEntry.objects.filter(seq__lte=head.tree_size)
                      .order_by("seq").values_list("leaf_hash", flat=True)]
            nodes = inclusion_proof(hashes, entry.seq - 1)
            proof = [n.hex() for n in nodes]
            try:
                verify_inclusion(bytes.fromhex(entry.computed_leaf_hash()), entry.seq - 1, head.tree_size, nodes,
                                 bytes.fromhex(head.root_hash))
                proof_ok = True
            except ProofError:
                proof_ok = False
    context = {"entry": entry, "canonical": canonical_json(entry.document()).decode(), "head": head,
               "proof": proof, "proof_ok": proof_ok, "verification": _banner()}
    return render(request, "audit/entry.html", context)


@require_POST
@property_view(VIEW)
def audit_verify_now(request: AuthedRequest, prop: Property) -> HttpResponse:
    tasks.verify_audit_log.enqueue()
    return redirect("audit:log", code=prop.code)
