from django.apps import AppConfig


class EngineWorkerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "engine_worker"
