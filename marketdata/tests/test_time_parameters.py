"""Issue 10 (probe): klines' start and end are normalised to UTC at the edge; a time
PostgreSQL cannot take (an offset past +-15:59:59 or with a fraction of a second, a year
outside 1-9999 once in UTC, epoch milliseconds past them, digits of another script) is a
400 invalid_input in the contract's shape, never a DataError's 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketdata.fields import MomentField

pytestmark = pytest.mark.django_db

BAD = [
    "2023-11-14T22:13:20+16:00",  # the reported 500: "time zone displacement out of range"
    "2023-11-14T22:13:20-16:00",
    "2023-11-14T22:13:20-23:59",
    "2023-11-14T22:13:20+05:30:15.5",  # the other reported 500: a fractional-second offset
    "2023-11-14T22:13:20-01:00:00.25",
    "9999-12-31T23:59:59-10:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+10:00",  # year 0 in UTC
    "10000-01-01T00:00:00Z",
    "0000-01-01",
    "253402300800000",  # epoch ms of 10000-01-01
    "-62135596800001",  # just before 0001-01-01
    "1" + "0" * 30,
    "-" + "9" * 40,
    "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
    "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",
    "2023-11-14T22:13:20+\u0660\u0665:30",
    "yesterday",
]

GOOD = [
    "2023-11-14T22:13:20+15:59",
    "2023-11-14T22:13:20-15:59:59",
    "2023-11-14T22:13:20+05:30",
    "2023-11-14T22:13:20.123456Z",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T10:00:00+10:00",
    "2023-11-14",
    "253402300799999",
    "-62135596800000",
    "1700000000000",
    "0",
]


@pytest.mark.parametrize("param", ["start", "end"])
@pytest.mark.parametrize("moment", BAD)
def test_a_time_postgresql_cannot_take_is_a_400(client, market, param, moment):
    response = client.get(f"/api/v1/markets/{market}/klines", {"interval": "1m", param: moment})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "invalid_input"
    assert param in error["details"]


@pytest.mark.parametrize("param", ["start", "end"])
@pytest.mark.parametrize("moment", GOOD)
def test_every_time_within_range_is_served(client, market, param, moment):
    response = client.get(f"/api/v1/markets/{market}/klines", {"interval": "1m", param: moment})
    assert response.status_code == 200, response.content
    assert response.json() == []


def test_times_are_normalised_to_utc():
    field = MomentField()
    instant = datetime(2023, 11, 14, 16, 43, 20, tzinfo=UTC)
    for text in ("2023-11-14T22:13:20+05:30", "2023-11-14T16:43:20Z", "1699980200000"):
        moment = field.to_internal_value(text)
        assert moment == instant and moment.utcoffset().total_seconds() == 0
        assert moment.tzinfo is UTC
