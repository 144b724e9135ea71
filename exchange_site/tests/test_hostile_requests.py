"""What a live-stack attack found past the first round of hostile-input fixes: bodies too
large to parse, a cookie that decodes to NUL, a lone surrogate in a JSON key, unknown API
paths, look-alike usernames and the WebSocket origin check in local development."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.test_hostile_auth import PASSWORD, new_name, register

pytestmark = pytest.mark.django_db


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(engine):
    client = Client()
    big = '{"username": "x", "password": "' + "p" * settings.API_MAX_BODY_BYTES + '"}'
    error = error_of(
        client.post("/api/v1/auth/register", big, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert error["details"] == {"limit": settings.API_MAX_BODY_BYTES}


def test_the_json_parser_stops_reading_past_the_limit_without_a_length(rf):
    import io

    from apikit.errors import PayloadTooLarge
    from apikit.parsers import JSONParser

    body = io.BytesIO(b"[" + b"0," * settings.API_MAX_BODY_BYTES + b"0]")
    with pytest.raises(PayloadTooLarge):
        JSONParser().parse(body, "application/json", {})
    assert JSONParser().parse(io.BytesIO(b'{"a": 1}'), "application/json", {}) == {"a": 1}


def test_a_quoted_cookie_that_decodes_to_nul_is_a_400(engine):
    # the header holds the four characters \000; Django's cookie parser makes them NUL
    client = Client(HTTP_COOKIE='sessionid="\\000aaaaaaaaaaaa"')
    error = error_of(client.get("/api/v1/markets"), 400, "invalid_input")
    assert list(error["details"]) == ["cookie"]


def test_a_lone_surrogate_in_a_json_key_is_a_400_naming_it_escaped(engine):
    response = Client().post(
        "/api/v1/auth/register", '{"a": {"\\udfff": "x"}}', content_type="application/json"
    )
    error = error_of(response, 400, "invalid_input")
    assert list(error["details"]) == ["a.\\udfff"]  # the key written as an escape


@pytest.mark.parametrize("path", ["/api/v1/nonexistent", "/api/v1/orders/-1", "/api/nope"])
def test_an_unknown_api_path_is_the_contracts_404_in_debug_too(engine, settings, path):
    settings.DEBUG = True  # as under make run: Django's handler404 would not apply
    error_of(APIClient().get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_an_unknown_api_path_is_the_contracts_404_for_writes_too(engine, method):
    """Not Django's HTML CSRF page (a client POSTing to a mistyped path, seen live)."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/auth/signup", "{}", content_type="application/json")
    error_of(response, 404, "not_found")


LOOK_ALIKES = [  # fullwidth letters: NFKC makes them the ASCII names
    "ｍａｒｋｅｔｍａｋｅｒ-load-1",
    "ＭＡＲＫＥＴＭＡＫＥＲ",
    "ｅｘｃｈａｎｇｅ-ｆｅｅｓ",
]


@pytest.mark.parametrize("username", LOOK_ALIKES)
def test_look_alike_reserved_names_are_refused(engine, username):
    error_of(register(APIClient(), username), 400, "username_reserved")


@pytest.mark.parametrize("username", ["\ufdfa" * 9, "\ufdfa"])
def test_a_name_is_checked_as_it_is_stored_after_normalisation(engine, username):
    # U+FDFA normalises (NFKC) to 18 characters with spaces: too long, and not allowed
    error = error_of(register(APIClient(), username), 400, "invalid_input")
    assert "username" in error["details"]


def test_a_normalised_name_is_stored_normalised(engine):
    name = new_name()
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    response = register(APIClient(), wide)
    assert response.status_code == 201, response.content
    assert response.json()["username"] == name
    body = {"username": name, "password": PASSWORD}
    assert APIClient().post("/api/v1/auth/token", body, format="json").status_code == 200


def test_websocket_origins_are_checked_in_local_development_too(settings, monkeypatch):
    from realtime.security import allowed_hosts_origin_validator

    async def no_database() -> None:
        return None

    monkeypatch.setattr("channels.consumer.aclose_old_connections", no_database)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", no_database)
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["*"]  # what DEBUG without ALLOWED_HOSTS means for HTTP
    settings.HOST = "192.0.2.7"

    async def accept_all(scope, receive, send):
        while (message := await receive())["type"] != "websocket.disconnect":
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})

    app = allowed_hosts_origin_validator(accept_all)

    async def connects(origin: bytes) -> bool:
        communicator = WebsocketCommunicator(app, "/ws/v1", headers=[(b"origin", origin)])
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(connects)(b"http://127.0.0.1:8000")
    assert async_to_sync(connects)(b"http://localhost:3000")
    assert async_to_sync(connects)(b"http://192.0.2.7:8000")  # the address make run binds
    assert not async_to_sync(connects)(b"http://evil.com")
