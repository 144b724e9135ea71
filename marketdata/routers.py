"""Database router: the time series (price ticks, kline rollups) live on the `timeseries`
alias; everything else on `default`.

When the timeseries alias is the default database (TIMESERIES_DATABASE_URL unset), their
tables are migrated by a plain `migrate` and the timeseries alias is a test mirror of
default; when it is a database of its own, `migrate --database timeseries` creates them
there and `migrate` leaves them out of default."""

from __future__ import annotations

from typing import Any

from django.conf import settings

TIMESERIES_ALIAS = "timeseries"
TIMESERIES_MODELS = frozenset({"tick", "kline"})


def is_timeseries(app_label: str, model_name: str | None) -> bool:
    return app_label == "marketdata" and model_name in TIMESERIES_MODELS


class TimeseriesRouter:
    def _alias(self, model: type[Any]) -> str | None:
        meta = model._meta
        return TIMESERIES_ALIAS if is_timeseries(meta.app_label, meta.model_name) else None

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias(model)

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        timeseries = is_timeseries(app_label, model_name)
        if settings.TIMESERIES_SHARED:
            # one database: everything migrates through default, nothing through the alias
            return db != TIMESERIES_ALIAS
        if db == TIMESERIES_ALIAS:
            return timeseries
        return not timeseries
