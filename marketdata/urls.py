from django.urls import path

from marketdata import api

urlpatterns = [
    path("markets", api.MarketListApi.as_view(), name="markets"),
    path("markets/<str:symbol>/depth", api.DepthApi.as_view(), name="market-depth"),
    path("markets/<str:symbol>/trades", api.MarketTradeListApi.as_view(), name="market-trades"),
    path("markets/<str:symbol>/klines", api.KlineListApi.as_view(), name="market-klines"),
    path("markets/<str:symbol>/ticker", api.TickerApi.as_view(), name="market-ticker"),
    path("tickers", api.TickerListApi.as_view(), name="tickers"),
]
