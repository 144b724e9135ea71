from django.apps import AppConfig


class ExchangeSiteConfig(AppConfig):
    """The project package as an app: it registers the project's system checks and its
    OpenAPI field descriptions."""

    name = "exchange_site"

    def ready(self) -> None:
        from exchange_site import checks  # noqa: F401  (registers them)
