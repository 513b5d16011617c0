"""The HTTP API under /api/v1/ (django-ninja): scoped bearer tokens, OpenAPI at /api/v1/openapi.json.

There is no interactive docs page: ninja's would load Swagger UI, and the site's content security policy allows
scripts from this origin only; docs/api.md documents every endpoint with an example.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.parser import Parser
from ninja.types import DictStrAny

from custody.api import errors, grant_routes, request_routes
from custody.api.auth import TokenAuth


def _no_lone_surrogates(value: Any) -> None:
    """JSON may spell a lone surrogate (\\ud800) that no UTF-8 text can hold: refuse it as unparseable."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_lone_surrogates(key)
            _no_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _no_lone_surrogates(item)


class JsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> DictStrAny:
        data = json.loads(request.body)
        _no_lone_surrogates(data)
        return cast(DictStrAny, data)


DESCRIPTION = """Custody's access requests, reviews and grants over HTTP: the same actions, rules and audit log as
the web UI.

Authenticate with `Authorization: Bearer <token>`; a token acts for one member of staff at one property, carries
scopes (`requests:read`, `requests:write`, `requests:review`, `grants:use`) and never more rights than that user's
roles there. Create one with `custody api-token create`. Errors have one shape:
`{"code": "...", "detail": [{"field": "...", "message": "..."}]}`. Times are ISO 8601 with a time zone."""

api = NinjaAPI(
    title="Custody API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs_url=None,
    auth=TokenAuth(),
    parser=JsonParser(),
)
errors.install(api)
api.add_router("", request_routes.router)
api.add_router("", grant_routes.router)
