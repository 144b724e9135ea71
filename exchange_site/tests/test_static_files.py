"""Static files as `make run` serves them: `manage.py build_static` (collectstatic into
var/static, skipped when unchanged) and WhiteNoise in the web service (daphne, as
deploy/supervisord.conf starts it), with DEBUG on and off. In Debian's Chromium
(playwright-core, frontend/e2e/admin.spec.ts): the admin's stylesheets apply (computed
styles), and /api/docs/ renders swagger-ui from this site alone, every other host's
request aborted. Screenshots: frontend/test-results/screenshots/{admin,api-docs}-*.png."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from apikit.testing import ScratchRedis, free_port, scratch_database

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ADMIN_USER, ADMIN_PASSWORD = "operator", "a-long-operator-password-7"
PRODUCTION = {  # DEBUG off over plain HTTP on the loopback (docs/production.md has HTTPS)
    "DEBUG": "0",
    "SECRET_KEY": "static-files-test-key-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "SECURE_HSTS_SECONDS": "0",
}


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our server
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def site_env(tmp_path_factory, django_db_blocker):
    """A database and a Redis of this module's own, migrated, with a superuser; the static
    files built as `make run` builds them."""
    redis_server = ScratchRedis(tmp_path_factory.mktemp("redis"))
    redis_server.start()
    try:
        with scratch_database("static") as url:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "TIMESERIES_DATABASE_URL": url,
                "REDIS_URL": redis_server.url,
                "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
                "LOG_LEVEL": "WARNING",
                "DJANGO_SUPERUSER_USERNAME": ADMIN_USER,
                "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
                "DJANGO_SUPERUSER_EMAIL": "operator@example.com",
            }
            manage(env, "migrate", "-v0")
            manage(env, "createsuperuser", "--noinput")
            manage(env, "build_static")
            yield env
    finally:
        redis_server.kill()


@pytest.fixture(scope="module", params=["debug", "production"])
def web(request, site_env):
    """The web service alone (the command deploy/supervisord.conf runs), on a free port."""
    env = {**site_env, **(PRODUCTION if request.param == "production" else {"DEBUG": "1"})}
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port),
         "exchange_site.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while get_status(base + "/admin/login/") != 200:
            assert proc.poll() is None, f"the web service exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the web service did not answer"
            time.sleep(0.2)
        yield request.param, base
    finally:
        proc.terminate()
        proc.wait(15)


def get_status(url: str) -> int:
    try:
        return get(url)[0]
    except OSError:
        return 0


def test_build_static_collects_once_and_skips_when_unchanged(site_env):
    assert "up to date" in manage(site_env, "build_static")


def test_the_static_files_are_served_by_the_web_service(web):
    mode, base = web
    status, _, page = get(base + "/admin/login/")
    assert status == 200
    sheet = re.search(rb'href="(/static/admin/css/base[^"]*\.css)"', page)
    assert sheet, page[:2000]
    status, headers, body = get(base + sheet.group(1).decode())
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert b"--header-bg" in body
    if mode == "production":  # a hashed name, cached for good
        assert re.fullmatch(rb"/static/admin/css/base\.[0-9a-f]{12}\.css", sheet.group(1))
        assert "immutable" in headers["Cache-Control"]


def test_the_admin_is_styled_and_the_api_docs_render_offline_in_chromium(web):
    mode, base = web
    if not shutil.which("npx") or not shutil.which("node"):
        pytest.fail("Node.js is not installed: the browser test cannot run")
    chromium = subprocess.run([str(ROOT / "scripts" / "ensure_chromium.sh")], check=False)  # noqa: S603
    assert chromium.returncode == 0, "Chromium is missing: apt-get install -y chromium"
    if not (FRONTEND / "node_modules" / "@playwright" / "test").is_dir():
        build = subprocess.run(  # noqa: S603
            [str(ROOT / "scripts" / "frontend_build.sh")], capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        assert build.returncode == 0, build.stdout + build.stderr
    shots = FRONTEND / "test-results" / "screenshots"
    for old in shots.glob(f"*-{mode}.png"):
        old.unlink()
    result = subprocess.run(  # noqa: S603
        [shutil.which("npx") or "npx", "--no-install", "playwright", "test", "e2e/admin.spec.ts"],
        cwd=FRONTEND,
        env={
            **os.environ,
            "E2E_BASE_URL": base,
            "E2E_ADMIN_USER": ADMIN_USER,
            "E2E_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "E2E_SHOT_SUFFIX": mode,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert (shots / f"admin-{mode}.png").stat().st_size > 10_000
    assert (shots / f"api-docs-{mode}.png").stat().st_size > 10_000


# -- the API docs' page itself (in process) ---------------------------------------------


def test_the_api_docs_page_references_no_other_host(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    references += re.findall(r"""url\(\s*["']?([^"')]+)""", page)
    assert any("swagger-ui-bundle" in ref for ref in references), references
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I), page
