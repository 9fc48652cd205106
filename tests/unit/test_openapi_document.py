"""The OpenAPI document gains the answers every route can give."""

from __future__ import annotations

from typing import Any

from dispatch.api.openapi import document


def _schema() -> dict[str, Any]:
    body = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "paths": {
            "/api/v1/auth/login": {"post": {"requestBody": body, "responses": {"200": {}}}},
            "/api/v1/alerts": {"get": {"responses": {"200": {}}}},
            "/api/v1/alerts/{alert_id}/notes": {
                "post": {"requestBody": body, "responses": {"200": {}, "409": {"x": 1}}}
            },
            "/healthz": {"get": {"responses": {"200": {}}}},
        },
        "components": {"schemas": {"HTTPValidationError": {}, "ValidationError": {}}},
    }


def test_each_operation_lists_what_it_can_answer() -> None:
    paths = document(_schema())["paths"]
    codes = {
        (path, method): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert codes[("/api/v1/auth/login", "post")] == {"200", "413", "422"}
    assert codes[("/api/v1/alerts", "get")] == {"200", "401", "403", "422"}
    assert codes[("/api/v1/alerts/{alert_id}/notes", "post")] == {
        "200", "401", "403", "404", "409", "413", "422"
    }  # fmt: skip
    assert codes[("/healthz", "get")] == {"200"}  # not under /api/
    # What a route says itself stays as it said it.
    assert paths["/api/v1/alerts/{alert_id}/notes"]["post"]["responses"]["409"] == {"x": 1}


def test_a_422_detail_is_a_list_of_field_errors_or_one_sentence() -> None:
    error = document(_schema())["components"]["schemas"]["HTTPValidationError"]
    shapes = error["properties"]["detail"]["anyOf"]
    assert {"type": "string"} in shapes
    assert any(shape.get("type") == "array" for shape in shapes)
    assert error["properties"]["problems"] == {"type": "array", "items": {"type": "string"}}
