from django.apps import AppConfig


class MarketMakerConfig(AppConfig):
    name = "market_maker"
    verbose_name = "Market maker"
