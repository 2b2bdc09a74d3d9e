"""/openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

from pipeline.api.openapi import document
from tests.api.support import Harness


def served_operations(api: Harness) -> set[tuple[str, str]]:
    operations = set()
    for route in api.app.router.routes():
        # `/ui...` is the dashboard's page and its helpers (docs/dashboard.md, tests/ui/), not the API.
        if route.method == "HEAD" or route.resource is None or route.resource.canonical.startswith("/ui"):
            continue
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.resource.canonical)
        operations.add((route.method.lower(), path))
    return operations


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item if method != "parameters"}


async def test_the_served_document_lists_every_route_and_nothing_else(api: Harness) -> None:
    reply = await api.call("GET", "/openapi.json")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    served = served_operations(api)
    documented = documented_operations(reply.json)
    assert served - documented == set(), "routes missing from /openapi.json"
    assert documented - served == set(), "documented operations the app does not serve"


def test_every_reference_resolves_and_every_path_parameter_is_declared() -> None:
    doc = document()
    text = repr(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in doc["components"]["schemas"], name
    for path, item in doc["paths"].items():
        declared = {p["name"] for p in item.get("parameters", [])}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), path
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["summary"] and operation["responses"], (method, path)
            assert all(re.fullmatch(r"[1-5]\d\d", status) for status in operation["responses"])


def test_every_post_documents_its_body_and_the_413_of_an_oversized_one() -> None:
    for path, item in document()["paths"].items():
        if "post" in item:
            assert item["post"]["requestBody"]["required"] is True, path
            assert "413" in item["post"]["responses"], path
