"""The public contract lives in the repository's docs, and the OpenAPI schema describes it.

- No tracked file refers to a design document outside the repository: docs/api.md (REST)
  and docs/websocket.md (WebSocket) are the contract.
- Every route under /api/v1, with each method its view answers, is in docs/api.md.
- Real responses of the live test stack (the engine worker as a subprocess, the DB
  processor's batch handler in this process) match the response schema drf-spectacular
  generates for their operation (what /api/schema/ serves): every key of a body is a
  documented property, every required property is there, and each value has the
  documented type (decimal strings, date-times, enums, nullability), at any depth. Every
  operation under /api/v1 is exercised at least with its success status.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

# the timeseries pool closed before the test database is dropped (ticks written here)
from marketdata.tests.conftest import _timeseries_pool_closed  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
# spelled in two parts, so that this file does not match itself
OUTSIDE_REFERENCES = ("DESIGN" + ".md", ".." + "/shared")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


# -- the contract is in the repository ----------------------------------------------------


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_refers_to_a_document_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for number, line in enumerate(text.splitlines(), 1):
            if any(reference in line for reference in OUTSIDE_REFERENCES):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def api_routes() -> list[str]:
    """``METHOD /api/v1/path`` of every route under /api/v1, path parameters as
    ``{name}`` (as docs/api.md and the OpenAPI paths write them)."""
    routes = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = getattr(pattern.callback, "view_class", None)
                assert view is not None, f"{route}: not a class-based API view"
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                routes.extend(f"{m.upper()} {path}" for m in HTTP_METHODS if hasattr(view, m))

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_api_route_is_documented_in_docs_api_md():
    routes = api_routes()
    assert len(routes) >= 20  # the walk found the API
    text = API_DOC.read_text()
    missing = [route for route in routes if f"`{route}`" not in text]
    assert not missing, f"not in docs/api.md: {missing}"


# -- the OpenAPI schema describes the bodies ----------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The OpenAPI document as /api/schema/?format=json serves it."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def mismatches(document: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> list[str]:
    """Where ``value`` departs from the schema ``node`` (empty when it matches)."""
    node = resolve(document, node)
    if "oneOf" in node or "anyOf" in node:
        options = node.get("oneOf") or node["anyOf"]
        tries = [mismatches(document, option, value, where) for option in options]
        return [] if any(not found for found in tries) else tries[0]
    if "allOf" in node:
        return [m for part in node["allOf"] for m in mismatches(document, part, value, where)]
    if value is None:
        return [] if node.get("nullable") or node.get("type") is None else [f"{where}: null"]
    kind = node.get("type")
    if isinstance(value, dict):
        if kind != "object":
            return [f"{where}: an object where the schema says {kind}"]
        properties = node.get("properties")
        if properties is None:  # a free-form object (error details)
            return [] if "additionalProperties" in node else [f"{where}: no properties"]
        found = [f"{where}.{key}: not in the schema" for key in value if key not in properties]
        found += [f"{where}.{key}: missing" for key in node.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                found += mismatches(document, properties[key], item, f"{where}.{key}")
        return found
    if isinstance(value, list):
        if kind != "array":
            return [f"{where}: an array where the schema says {kind}"]
        found = []
        if "minItems" in node and len(value) < node["minItems"]:
            found.append(f"{where}: fewer than {node['minItems']} items")
        if "maxItems" in node and len(value) > node["maxItems"]:
            found.append(f"{where}: more than {node['maxItems']} items")
        for index, item in enumerate(value):
            found += mismatches(document, node["items"], item, f"{where}[{index}]")
        return found
    if "enum" in node and value not in node["enum"]:
        return [f"{where}: {value!r} not one of {node['enum']}"]
    if isinstance(value, bool):
        return [] if kind == "boolean" else [f"{where}: a boolean where the schema says {kind}"]
    if isinstance(value, int):
        return [] if kind in ("integer", "number") else [f"{where}: an integer, not {kind}"]
    if isinstance(value, str):
        if kind != "string":
            return [f"{where}: a string where the schema says {kind}"]
        if "pattern" in node and not re.search(node["pattern"], value):
            return [f"{where}: {value!r} does not match {node['pattern']}"]
        if node.get("format") == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return [f"{where}: {value!r} is not a date-time"]
        return []
    return [f"{where}: {value!r} is not JSON the schema describes"]


class Contract:
    """Sends requests and checks each response against its operation's schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str]] = set()

    def call(
        self, client: APIClient, method: str, template: str, status: int, path: str = "", **kw
    ) -> Any:
        path = path or template
        response = getattr(client, method)(path, format="json", **kw)
        assert response.status_code == status, (method, path, response.content)
        operation = self.document["paths"][template][method]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method.upper()} {template}: {status} is not documented"
        if not response.content:
            assert "content" not in documented, f"{method.upper()} {template} {status}: no body"
            body = None
        else:
            schema = documented["content"]["application/json"]["schema"]
            body = response.json()
            found = mismatches(self.document, schema, body, f"{method.upper()} {template} {status}")
            assert not found, "\n".join(found)
        if status < 300:
            self.checked.add((method, template))
        return body


def persist() -> None:
    """What the DB processor does, in this process (inside the test's transaction): the
    market trades, klines and tickers then have something to show."""
    from accounts.models import Balance, LedgerEntry, Transfer
    from infra import keys
    from orders.models import Order, Trade
    from persistence.dbprocessor import processor_for
    from persistence.models import ProcessorState

    for model in (ProcessorState, Order, Trade, Balance, LedgerEntry, Transfer):
        model.objects.all().delete()  # as if it had never run: the whole stream applies
    shard = settings.ENGINE_DEFAULT_SHARD
    entries = redis.Redis.from_url(settings.REDIS_URL).xrange(keys.events_stream(shard))
    processor_for(shard, trim_every=0).apply(entries)


@pytest.mark.django_db
def test_real_responses_match_the_documented_response_schemas(document, make_trader, market):
    contract = Contract(document)
    call = contract.call
    anonymous = APIClient()
    seller, buyer = make_trader(), make_trader()

    # auth
    name = f"schema{buyer.user_id}"
    registered = call(
        anonymous,
        "post",
        "/api/v1/auth/register",
        201,
        data={"username": name, "password": "correct-horse-9"},
    )
    call(anonymous, "post", "/api/v1/auth/register", 409,
         data={"username": name, "password": "correct-horse-9"})  # fmt: skip
    call(anonymous, "post", "/api/v1/auth/register", 400, data={"username": "x y"})
    call(anonymous, "post", "/api/v1/auth/token", 200,
         data={"username": name, "password": "correct-horse-9"})  # fmt: skip
    call(anonymous, "post", "/api/v1/auth/token", 401,
         data={"username": name, "password": "wrong-horse-9"})  # fmt: skip
    call(buyer, "get", "/api/v1/auth/me", 200)
    call(anonymous, "get", "/api/v1/auth/me", 401)
    call(buyer, "get", "/api/v1/balances", 200)

    # API keys (a signed request's refusal in the contract's shape too)
    from apikeys.tests.helpers import signed

    new_key = {"label": "schema", "scopes": ["read"], "allowed_ips": ["127.0.0.1"]}
    key = call(buyer, "post", "/api/v1/api-keys", 201, data=new_key)
    call(buyer, "post", "/api/v1/api-keys", 400, data={"label": "schema", "scopes": []})
    assert call(buyer, "get", "/api/v1/api-keys", 200)[0]["id"] == key["id"]
    call(anonymous, "get", "/api/v1/api-keys", 401)
    call(seller, "delete", "/api/v1/api-keys/{key_id}", 404, f"/api/v1/api-keys/{key['id']}")
    assert signed(key, "GET", "/api/v1/balances").status_code == 200
    refused = signed(key, "GET", "/api/v1/balances", secret="0" * 64)
    assert refused.status_code == 400
    assert not mismatches(
        contract.document, {"$ref": "#/components/schemas/Error"}, refused.json(), "signed"
    )
    call(buyer, "delete", "/api/v1/api-keys/{key_id}", 204, f"/api/v1/api-keys/{key['id']}")

    # catalogue and depth, with a resting order on each side
    call(anonymous, "get", "/api/v1/markets", 200)
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    call(unknown, "get", "/api/v1/markets", 401)  # an unknown token, even where none is needed
    sell = call(seller, "post", "/api/v1/orders", 201,
                data={"symbol": market, "side": "sell", "type": "limit", "price": "1000.5",
                      "quantity": "0.02", "client_order_id": "schema-sell"})  # fmt: skip
    call(buyer, "post", "/api/v1/orders", 201,
         data={"symbol": market, "side": "buy", "type": "limit", "price": "900",
               "quantity": "0.01"})  # fmt: skip
    depth = f"/api/v1/markets/{market}/depth"
    body = call(anonymous, "get", "/api/v1/markets/{symbol}/depth", 200, depth)
    assert body["bids"] and body["asks"]
    call(anonymous, "get", "/api/v1/markets/{symbol}/depth", 200, depth + "?limit=all")
    call(anonymous, "get", "/api/v1/markets/{symbol}/depth", 400, depth + "?limit=0")
    call(anonymous, "get", "/api/v1/markets/{symbol}/depth", 404,
         "/api/v1/markets/NOPE_USDT/depth")  # fmt: skip

    # a trade: the buyer takes half the sell order
    placed = call(buyer, "post", "/api/v1/orders", 201,
                  data={"symbol": market, "side": "buy", "type": "market",
                        "quantity": "0.01"})  # fmt: skip
    assert placed["fills"] and placed["order"]["status"] == "filled"
    call(buyer, "post", "/api/v1/orders", 400,
         data={"symbol": market, "side": "buy", "type": "limit", "quantity": "0.01"})  # fmt: skip
    call(buyer, "post", "/api/v1/orders", 422,
         data={"symbol": market, "side": "buy", "type": "limit", "price": "1000000",
               "quantity": "1"})  # fmt: skip
    call(seller, "post", "/api/v1/orders", 409,
         data={"symbol": market, "side": "sell", "type": "limit", "price": "2000",
               "quantity": "0.01", "client_order_id": "schema-sell"})  # fmt: skip
    call(anonymous, "post", "/api/v1/orders", 401, data={})

    # the caller's orders and fills
    order_id = sell["order"]["id"]
    detail = f"/api/v1/orders/{order_id}"
    for client, query in [
        (seller, ""),
        (seller, "?status=all"),
        (buyer, "?status=closed"),
        (seller, "?client_order_id=schema-sell"),
    ]:
        page = call(client, "get", "/api/v1/orders", 200, "/api/v1/orders" + query)
        assert page["results"], query
    call(seller, "get", "/api/v1/orders", 400, "/api/v1/orders?status=nope")
    call(seller, "get", "/api/v1/orders/{order_id}", 200, detail)
    call(buyer, "get", "/api/v1/orders/{order_id}", 404, detail)
    assert call(seller, "get", "/api/v1/trades", 200)["results"]
    assert call(buyer, "get", "/api/v1/trades", 200, f"/api/v1/trades?symbol={market}")["results"]
    # a stop order (pending), amended; an OCO list
    stop = call(seller, "post", "/api/v1/orders", 201,
                data={"symbol": market, "side": "sell", "type": "stop_limit", "price": "900",
                      "stop_price": "950", "quantity": "0.01"})["order"]  # fmt: skip
    assert stop["status"] == "pending" and stop["stop_price"] == "950"
    stop_detail = f"/api/v1/orders/{stop['id']}"
    amended = call(seller, "patch", "/api/v1/orders/{order_id}", 200, stop_detail,
                   data={"quantity": "0.02"})  # fmt: skip
    assert amended["quantity"] == "0.02"
    call(seller, "patch", "/api/v1/orders/{order_id}", 400, stop_detail, data={})
    call(seller, "patch", "/api/v1/orders/{order_id}", 422, stop_detail,
         data={"quantity": "1000"})  # fmt: skip
    call(buyer, "patch", "/api/v1/orders/{order_id}", 404, stop_detail, data={"quantity": "1"})
    listed = call(seller, "post", "/api/v1/order-lists", 201,
                  data={"symbol": market, "side": "sell", "quantity": "0.01", "price": "2000",
                        "stop_price": "940"})  # fmt: skip
    call(seller, "post", "/api/v1/order-lists", 400, data={"symbol": market, "side": "sell"})
    call(seller, "post", "/api/v1/order-lists", 422,
         data={"symbol": market, "side": "sell", "quantity": "0.01", "price": "2000",
               "stop_price": "1100"})  # fmt: skip
    list_detail = f"/api/v1/order-lists/{listed['id']}"
    assert call(seller, "get", "/api/v1/order-lists/{list_id}", 200, list_detail) == listed
    call(buyer, "get", "/api/v1/order-lists/{list_id}", 404, list_detail)
    call(seller, "delete", "/api/v1/order-lists/{list_id}", 200, list_detail)
    call(seller, "delete", "/api/v1/order-lists/{list_id}", 400, list_detail)
    cancelled = call(seller, "delete", "/api/v1/orders/{order_id}", 200, detail)
    assert cancelled["status"] == "cancelled"
    call(seller, "delete", "/api/v1/orders/{order_id}", 400, detail)
    assert call(buyer, "delete", "/api/v1/orders", 200, f"/api/v1/orders?symbol={market}")

    # market data, once the DB processor has persisted the trade
    persist()
    base = f"/api/v1/markets/{market}"
    assert call(anonymous, "get", "/api/v1/markets/{symbol}/trades", 200, base + "/trades")
    klines = base + "/klines?interval=1m"
    assert call(anonymous, "get", "/api/v1/markets/{symbol}/klines", 200, klines)
    call(anonymous, "get", "/api/v1/markets/{symbol}/klines", 400, base + "/klines?interval=2m")
    ticker = call(anonymous, "get", "/api/v1/markets/{symbol}/ticker", 200, base + "/ticker")
    assert ticker["last"] == "1000.5"
    call(anonymous, "get", "/api/v1/tickers", 200)

    # logout last: it revokes the new user's token
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {registered['token']}")
    call(fresh, "post", "/api/v1/auth/logout", 204)
    call(fresh, "get", "/api/v1/balances", 401)

    operations = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in HTTP_METHODS
    }
    assert operations - contract.checked == set()
