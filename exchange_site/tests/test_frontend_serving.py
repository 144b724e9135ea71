"""Django serves the web app's static export (exchange_site/frontend.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def build(tmp_path, settings):
    settings.FRONTEND_BUILD_DIR = tmp_path
    (tmp_path / "index.html").write_text("<html>markets</html>")
    (tmp_path / "login.html").write_text("<html>login</html>")
    (tmp_path / "login.txt").write_text("rsc login")
    (tmp_path / "trade").mkdir()
    (tmp_path / "trade" / "_.html").write_text("<html>trade</html>")
    (tmp_path / "_next" / "static" / "chunks").mkdir(parents=True)
    (tmp_path / "_next" / "static" / "chunks" / "app.js").write_text("console.log(1)")
    return tmp_path


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_without_a_build_the_front_page_redirects_to_the_api_docs(client, settings, tmp_path):
    settings.FRONTEND_BUILD_DIR = tmp_path / "missing"
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/api/docs/"


def test_pages_and_assets_are_served_from_the_build(client, build):
    assert body(client.get("/")) == b"<html>markets</html>"
    assert body(client.get("/login")) == b"<html>login</html>"
    assert body(client.get("/login.txt")) == b"rsc login"
    asset = client.get("/_next/static/chunks/app.js")
    assert body(asset) == b"console.log(1)"
    assert "immutable" in asset["Cache-Control"]
    assert client.get("/").get("Cache-Control") == "no-cache"


def test_every_trade_address_gets_the_one_trade_page(client, build):
    for address in ("/trade/BTC_USDT", "/trade/ETH_USDT/", "/trade/NEW_COIN"):
        response = client.get(address)
        assert response.status_code == 200, address
        assert body(response) == b"<html>trade</html>"


def test_unknown_paths_stay_json_404s_and_nothing_outside_the_build_is_served(client, build):
    (build.parent / "secret.txt").write_text("secret")
    for address in ("/api/v1/nope", "/signup", "/_next/../secret.txt", "/_next/%2e%2e/secret.txt"):
        response = client.get(address)
        assert response.status_code == 404, address
    assert client.get("/api/v1/nope").json()["error"]["code"] == "not_found"
    assert client.post("/").status_code == 405
