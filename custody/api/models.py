"""API tokens: a member of staff's scoped, time-limited credential for /api/v1/ at one property.

A token never has more rights than its user: every call checks the token's scope *and* the user's roles at the
token's property, exactly as the web UI checks them. Only the SHA-256 of the secret is stored; the secret is shown
once, when the token is created (``custody api-token create``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.properties.models import Property


class Scope(models.TextChoices):
    REQUESTS_READ = "requests:read", _("List and read access requests")
    REQUESTS_WRITE = "requests:write", _("File, change, submit, withdraw and answer access requests")
    REQUESTS_REVIEW = "requests:review", _("Review, approve, deny and question access requests; revoke grants")
    GRANTS_USE = "grants:use", _("List and use one's own grants")


class ApiToken(models.Model):
    property = models.ForeignKey(
        Property, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("property")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("acts for")
    )
    name = models.CharField(_("name"), max_length=100)
    scopes = models.JSONField(_("scopes"), default=list)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)  # SHA-256 of the secret, hex
    hint = models.CharField(_("starts with"), max_length=16, editable=False)  # to tell tokens apart in a list
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created_at")), name="api_token_expiry")
        ]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.name})"

    def is_usable(self, at: Any = None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and at < self.expires_at

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
