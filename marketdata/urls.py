from django.urls import path

from marketdata import api

urlpatterns = [
    path("markets", api.MarketListApi.as_view(), name="markets"),
    path("markets/<str:symbol>/depth", api.DepthApi.as_view(), name="market-depth"),
]
