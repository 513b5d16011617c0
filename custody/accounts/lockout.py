"""Helpers for django-axes sign-in lockout."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

USERNAME_LIMIT = 150  # the user model's limit; axes stores attempts in a 255-character column


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The user name tried, cut to a length that can name a real account (longer ones never can)."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(raw)[:USERNAME_LIMIT]
