"""The OpenAPI 3.1 document of /api/v1 (#18) against the code: every route described, every described
path served, and schemathesis against a live server: no 5xx, every answer matches the document."""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from mkassa.blueprints.api.openapi import DOCUMENT
from mkassa.extensions import db
from mkassa.services import partner_api

from ..conftest import LiveServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Generated requests per operation and mode: each one a real HTTP request through the whole app.
EXAMPLES_PER_OPERATION = 25


def _routes(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return found


def test_every_route_is_described_and_every_description_is_served(app):
    described = {path: set(ops) for path, ops in DOCUMENT["paths"].items()}
    assert _routes(app) == described


def test_the_document_is_served_without_a_key_or_a_cookie(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json["openapi"] == "3.1.0"
    assert "Set-Cookie" not in response.headers
    assert response.json["servers"] == [{"url": "http://localhost"}]
    schemathesis.openapi.from_dict(response.json)  # loads: a well-formed OpenAPI document


def test_every_operation_has_an_id_and_documents_401():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"]
            if operation.get("security") != []:
                assert "401" in operation["responses"], f"{method} {path}"


@pytest.mark.slow
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(app, demo, mode):
    made = partner_api.create_key(demo.owner, "schemathesis", None, app.extensions["mkassa.settings"])
    db.session.commit()
    headers = {"Authorization": f"Bearer {made.token}", "Accept-Language": "en"}
    with LiveServer(app) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
        failures = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS)

            try:
                exercise()
            except Exception as exc:  # gather every operation's failure, then report them all
                failures.append(f"{operation.label}: {exc!s:.1500}")
    assert not failures, "\n\n".join(failures)
