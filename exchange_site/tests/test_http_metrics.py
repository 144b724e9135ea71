"""The web's HTTP metrics (exchange_site/middleware.py: django-prometheus' middlewares
with the families docs/operations.md lists): each request counted by view, transport,
method and status, with its latency; no other django_http_* family."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from apikit.testing import Scrape
from exchange_site.tests.test_metrics import documented_metrics, sample_name


def scrape() -> Scrape:
    return Scrape(generate_latest(REGISTRY).decode())


@pytest.mark.django_db
def test_each_request_is_counted_by_view_method_and_status_with_its_latency(client):
    before = scrape()
    assert client.get("/api/v1/markets").status_code == 200
    assert client.get("/api/v1/no-such-path").status_code == 404
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    responses = "django_http_responses_total_by_status_view_method_total"
    assert delta(responses, view="markets", method="GET", status="200") == 1
    # a path no named pattern has: the view's dotted path (the API's 404 under /api/)
    assert delta(responses, view="apikit.errors.json_404", method="GET", status="404") == 1
    requests = "django_http_requests_total_by_view_transport_method_total"
    assert delta(requests, view="markets", transport="http", method="GET") == 1
    latency = "django_http_requests_latency_seconds_by_view_method"
    assert delta(f"{latency}_count", view="markets", method="GET") == 1
    assert delta(f"{latency}_sum", view="markets", method="GET") > 0
    everything = "django_http_requests_latency_including_middlewares_seconds_count"
    assert delta(everything) == 2


@pytest.mark.django_db
def test_only_the_documented_http_families_are_exported(client):
    client.get("/api/v1/markets")
    exported = {
        sample_name(family, kind)
        for family, (kind, _) in scrape().families.items()
        if family.startswith("django_http_")
    }
    assert exported == {name for name in documented_metrics() if name.startswith("django_http_")}
