"""The order input's serializer builds its fields once (apikit.serializers.SharedFields)
and still validates each request on its own, from many threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from orders.api import OrderCollectionApi

Place = OrderCollectionApi.PlaceSerializer


def test_the_fields_are_built_once_per_class():
    first, second = Place(data={}), Place(data={})
    assert first.fields is second.fields
    assert first.fields["side"] is second.fields["side"]


def test_threads_sharing_the_fields_each_get_their_own_result():
    def validate(i: int) -> tuple[int, object]:
        body = {"symbol": "BTC_USDT", "side": "buy" if i % 2 else "sell", "type": "limit"}
        body |= {"quantity": f"0.{i + 1:03d}", "price": "100" if i % 3 else None}
        data = Place(data=body)
        return i, data.validated_data if data.is_valid() else data.errors

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(validate, range(600)))
    for i, result in results:
        if i % 3 == 0:  # a limit order without a price
            assert result == {"price": ["A limit order needs a price."]}, (i, result)
        else:
            assert result["side"] == ("buy" if i % 2 else "sell")
            assert result["quantity"] == Decimal(f"0.{i + 1:03d}")
            assert result["time_in_force"] == "GTC" and result["client_order_id"] is None
