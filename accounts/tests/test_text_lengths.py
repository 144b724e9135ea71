"""Issue 10 (probe): text longer than its column is a 400 at the edge, never PostgreSQL's
"value too long for type character varying" as a 500. Every input serializer's text
field takes at most its model column's max_length (derived from the model)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.test import APIClient

from accounts.api import TokenObtainApi, UserRegisterApi
from orders.api import OrderCollectionApi
from orders.models import Order

pytestmark = pytest.mark.django_db


def email(length: int) -> str:
    """A syntactically valid address of ``length`` characters (up to 320, as Django's
    EmailValidator takes): a 64-character local part, labels of at most 63."""
    domain, left = [], length - 65 - len(".com")
    while left > 0:
        label = min(left, 63)
        domain.append("b" * label)
        left -= label + 1
    text = "a" * 64 + "@" + ".".join(domain) + ".com"
    assert len(text) == length
    return text


@pytest.mark.parametrize("length", [255, 300, 320])
def test_an_email_longer_than_its_column_is_a_400(engine, length):
    client = APIClient()
    body = {"username": f"longmail{length}", "password": "correct-horse-9", "email": email(length)}
    response = client.post("/api/v1/auth/register", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "email" in error["details"]
    assert not get_user_model().objects.filter(username=f"longmail{length}").exists()


def test_an_email_as_long_as_its_column_is_accepted(engine):
    address = email(254)
    body = {"username": "longmail254", "password": "correct-horse-9", "email": address}
    response = APIClient().post("/api/v1/auth/register", body, format="json")
    assert response.status_code == 201, response.content
    assert get_user_model().objects.get(username="longmail254").email == address


INPUTS = [
    (UserRegisterApi.InputSerializer, get_user_model()),
    (TokenObtainApi.InputSerializer, get_user_model()),
    (OrderCollectionApi.PlaceSerializer, Order),
    (OrderCollectionApi.ListFilter, Order),
]


@pytest.mark.parametrize(("serializer", "model"), INPUTS)
def test_every_text_input_is_no_longer_than_its_column(serializer, model):
    columns = {f.name: f for f in model._meta.get_fields() if hasattr(f, "max_length")}
    for name, field in serializer().fields.items():
        if not isinstance(field, serializers.CharField):
            continue
        assert field.max_length is not None, f"{serializer.__qualname__}.{name}: no max_length"
        column = columns.get(name)
        if column is not None and column.max_length is not None:
            assert field.max_length <= column.max_length, f"{serializer.__qualname__}.{name}"
