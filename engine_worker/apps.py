from django.apps import AppConfig


class EngineWorkerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "engine_worker"

    def ready(self) -> None:
        from infra.shards import check_settings

        check_settings()  # a market on a shard without the balances: refuse to start
