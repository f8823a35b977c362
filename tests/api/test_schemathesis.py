"""Schemathesis over the service's own OpenAPI document: no 5xx, responses match their declared schemas and
content types. Bounded (few seeded examples per operation) to keep the suite fast; CDS Hooks routes are left to
test_cds.py (they call out to a fhirServer the request names)."""

from __future__ import annotations

import warnings
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from oncoline.api import ServiceConfig, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # see conftest: Starlette's TestClient deprecation notice
    import fastapi.testclient  # noqa: F401  (schemathesis drives the ASGI app through it)

APP = create_app(ServiceConfig(feedback_db=Path("/nonexistent/never-written.sqlite")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.include(path_regex=r"^/(api/v1/|healthz)").parametrize()
@hypothesis.settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # schemathesis' own deprecations inside its runner
def test_openapi_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
