from django.apps import AppConfig


class BinanceApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "binance_api"
    verbose_name = "Binance-compatible API"
