"""The OpenAPI document as the API answers (tests/system/test_openapi_conformance.py).

FastAPI documents what a route declares; the answers every route can also give
come from elsewhere and are added here, once, for every operation under /api/:

- 401 (no or a wrong token) and 403 (the role or area may not) for those that
  need a log-in; 413 (the body cap) and 422 (a body the guard refuses: NaN,
  nested too deep) for those that take a body; 404 for those that name a record
  (in the path or the body); 409 (a state or a record in the way) for changes.
- A 422's ``detail`` is either FastAPI's list of field errors or one sentence
  (a rule across fields, a refused value), with ``problems`` naming each.
"""

from __future__ import annotations

import copy
from typing import Any

_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
    }
}
_FIELD_ERROR = "#/components/schemas/ValidationError"
_METHODS = ("get", "put", "post", "patch", "delete")
# Answered before any route: the log-in, the health check and the pages need no token.
_OPEN = {"/api/v1/auth/login"}


def _add(operation: dict[str, Any], code: str, description: str) -> None:
    responses = operation.setdefault("responses", {})
    if code not in responses:
        responses[code] = {"description": description, "content": copy.deepcopy(_ERROR)}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (FastAPI's) with the answers every route can give."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "HTTPValidationError" in components:
        components["HTTPValidationError"] = {
            "title": "HTTPValidationError",
            "type": "object",
            "properties": {
                "detail": {
                    "title": "Detail",
                    "anyOf": [
                        {"type": "array", "items": {"$ref": _FIELD_ERROR}},
                        {"type": "string"},
                    ],
                },
                "problems": {"type": "array", "items": {"type": "string"}},
            },
        }
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if path not in _OPEN:
                _add(operation, "401", "no session, or it ended")
                _add(operation, "403", "your role or areas may not")
                names_a_record = "{" in path or "requestBody" in operation
                if names_a_record:  # in its path or its body (an elder's, a provider's id)
                    _add(operation, "404", "no such record (or not yours to see)")
                if method != "get":
                    _add(operation, "409", "the record's state, or one that exists, forbids it")
            if "requestBody" in operation:
                _add(operation, "413", "the body is over the cap")
            if "422" not in operation.get("responses", {}):
                operation["responses"]["422"] = {
                    "description": "a value is refused",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                        }
                    },
                }
    return schema
