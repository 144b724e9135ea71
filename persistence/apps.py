from django.apps import AppConfig


class PersistenceConfig(AppConfig):
    """What the DB processor persists from the engine's event stream, and the tools that
    check and repair it (reconcile, dead letters)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "persistence"
    verbose_name = "Persistence"
