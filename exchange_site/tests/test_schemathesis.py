"""A short schemathesis run over the API's OpenAPI schema (/api/schema/, drf-spectacular)
against the live test stack: the Django app in-process (WSGI) and the engine worker as its
own process (the `engine` fixture), authenticated with a signed-up trader's token. Every
generated request must get an answer below 500 (schemathesis' not_a_server_error); a
few hundred requests in all, derandomized so a run is repeatable. Logout is left out: it
would revoke the token the rest of the run uses. So that valid requests reach the engine,
not only the validation, the run is told which market symbols exist (the demo markets the
`engine` fixture seeds); invalid symbols are still generated (negative mode)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 15  # per operation of /api/v1 and /api/v3, unsupported methods included
STATUS_LOG = os.environ.get("SCHEMATHESIS_STATUS_LOG")  # a file: one line per request


@pytest.fixture
def in_process_requests(trader_token):
    """As under Django's test client, a request does not close the database connection
    when it starts or ends: the connection holds the test's transaction. (After the
    trader's sign-up: the test client connects the receivers again after each request.)"""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def trader_token(engine, make_trader) -> str:
    return make_trader()._credentials["HTTP_AUTHORIZATION"]


def with_symbols(node: Any, symbols: list[str]) -> Any:
    """The schema document with every string named "symbol" (parameter or property)
    limited to ``symbols`` for the valid cases."""
    if isinstance(node, dict):
        node = {key: with_symbols(value, symbols) for key, value in node.items()}
        if node.get("name") == "symbol" and isinstance(node.get("schema"), dict):
            node["schema"] = {**node["schema"], "enum": symbols}
        properties = node.get("properties")
        if isinstance(properties, dict) and isinstance(properties.get("symbol"), dict):
            properties["symbol"] = {**properties["symbol"], "enum": symbols}
        return node
    if isinstance(node, list):
        return [with_symbols(item, symbols) for item in node]
    return node


def api_schema() -> schemathesis.schemas.BaseSchema:
    """The schema /api/schema/ serves (drf-spectacular's generator, as the view runs it),
    its requests sent to the app in-process (WSGI)."""
    import json

    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from marketdata.management.commands.seed_demo import DEMO_MARKETS

    document = SchemaGenerator().get_schema(request=None, public=True)
    document = json.loads(OpenApiJsonRenderer().render(document))
    symbols = [market["symbol"] for market in DEMO_MARKETS]
    loaded = schemathesis.openapi.from_dict(with_symbols(document, symbols))
    loaded.app = get_wsgi_application()
    loaded.location = "/api/schema/"
    return loaded.exclude(path="/api/v1/auth/logout")


schema = api_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: report the request as sent
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_generated_request_gets_a_server_error(case, trader_token, in_process_requests):
    response = case.call_and_validate(
        headers={"Authorization": trader_token}, checks=[not_a_server_error]
    )
    if STATUS_LOG:
        with open(STATUS_LOG, "a") as log:
            log.write(
                f"{case.method} {case.path} {response.status_code} {response.content[:200]!r}\n"
            )
