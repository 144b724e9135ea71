"""/api/v3: Binance's spot REST paths (docs/binance-api.md)."""

from django.urls import path, re_path

from binance_api import api, errors

urlpatterns = [
    path("ping", api.PingApi.as_view(), name="binance-ping"),
    path("time", api.TimeApi.as_view(), name="binance-time"),
    path("exchangeInfo", api.ExchangeInfoApi.as_view(), name="binance-exchange-info"),
    path("depth", api.DepthApi.as_view(), name="binance-depth"),
    path("trades", api.TradesApi.as_view(), name="binance-trades"),
    path("aggTrades", api.AggTradesApi.as_view(), name="binance-agg-trades"),
    path("klines", api.KlinesApi.as_view(), name="binance-klines"),
    path("ticker/24hr", api.Ticker24hrApi.as_view(), name="binance-ticker-24hr"),
    path("ticker/price", api.TickerPriceApi.as_view(), name="binance-ticker-price"),
    path("ticker/bookTicker", api.BookTickerApi.as_view(), name="binance-book-ticker"),
    path("order", api.OrderApi.as_view(), name="binance-order"),
    path("openOrders", api.OpenOrdersApi.as_view(), name="binance-open-orders"),
    path("allOrders", api.AllOrdersApi.as_view(), name="binance-all-orders"),
    path("myTrades", api.MyTradesApi.as_view(), name="binance-my-trades"),
    path("account", api.AccountApi.as_view(), name="binance-account"),
    # anything else under /api/v3: Binance's shape, not the project's 404
    re_path(r"^", errors.binance_404),
]
