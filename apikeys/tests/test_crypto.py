"""The secrets' encryption at rest: a dedicated key, the SECRET_KEY fallback, rotation and
re-encryption, and a refused setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from apikeys import crypto
from apikeys.models import ApiKey
from apikeys.tests.helpers import create_key, signed

ROOT = Path(__file__).resolve().parents[2]
OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_a_dedicated_key_encrypts_and_the_secret_key_is_not_needed():
    with override_settings(API_KEY_ENCRYPTION_KEYS=[OLD]):
        token = crypto.encrypt("s3cret")
    assert Fernet(OLD.encode()).decrypt(token.encode()) == b"s3cret"
    with override_settings(API_KEY_ENCRYPTION_KEYS=[OLD], SECRET_KEY="another-secret-key"):
        assert crypto.decrypt(token) == "s3cret"
    with override_settings(API_KEY_ENCRYPTION_KEYS=[NEW]):
        assert crypto.decrypt(token) is None


def test_the_secret_key_fallback_survives_a_secret_key_rotation():
    with override_settings(API_KEY_ENCRYPTION_KEYS=[], SECRET_KEY="first-secret-key"):
        token = crypto.encrypt("s3cret")
    with override_settings(
        API_KEY_ENCRYPTION_KEYS=[], SECRET_KEY="second", SECRET_KEY_FALLBACKS=["first-secret-key"]
    ):
        assert crypto.decrypt(token) == "s3cret"
    with override_settings(API_KEY_ENCRYPTION_KEYS=[], SECRET_KEY="second"):
        assert crypto.decrypt(token) is None
    assert "s3cret" not in token


@pytest.mark.django_db
def test_rotation_with_the_reencrypt_command(make_trader, capsys):
    with override_settings(API_KEY_ENCRYPTION_KEYS=[OLD]):
        key = create_key(make_trader(), ["read"])
    with override_settings(API_KEY_ENCRYPTION_KEYS=[NEW, OLD]):
        assert signed(key, "GET", "/api/v1/balances").status_code == 200
        call_command("api_keys_reencrypt")
    assert "re-encrypted" in capsys.readouterr().out
    with override_settings(API_KEY_ENCRYPTION_KEYS=[NEW]):
        assert signed(key, "GET", "/api/v1/balances").status_code == 200
        row = ApiKey.objects.get(pk=key["id"])
        assert Fernet(NEW.encode()).decrypt(row.secret_encrypted.encode()).decode() == key["secret"]
    with override_settings(API_KEY_ENCRYPTION_KEYS=[OLD], SECRET_KEY="x"):
        assert signed(key, "GET", "/api/v1/balances").status_code == 401  # undecryptable


def test_a_malformed_key_setting_stops_the_start():
    env = {**os.environ, "API_KEY_ENCRYPTION_KEYS": "not-a-fernet-key"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import exchange_site.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "API_KEY_ENCRYPTION_KEYS must be Fernet keys" in result.stderr
