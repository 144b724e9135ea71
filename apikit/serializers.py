"""Input serializers whose fields are built once per class.

DRF deep-copies every declared field for each serializer instance (``get_fields``: each
field re-instantiated, a ChoiceField's choices rebuilt): profiled under load, that was a
quarter of the web tier's CPU for an order. ``SharedFields`` builds and binds them on the
first instance of the class and hands the same ones to every later instance.

For input serializers only, and only ones whose fields keep no per-request state and read
no serializer context (no ``CurrentUserDefault``, no context-dependent default or
validator, no nested serializer): a field then only reads its own settings while it
validates, so threads may share it. What a validation produces (``validated_data``,
``errors``) stays on the serializer instance."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class SharedFields(serializers.Serializer):
    _shared_fields: Any = None

    @property
    def fields(self) -> Any:
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            shared = super().fields  # built and bound once; a race only builds it twice
            cls._shared_fields = shared
        return shared
