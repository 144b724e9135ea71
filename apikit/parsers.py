"""Text the database cannot store, refused at the edge.

PostgreSQL's text types hold no NUL character, and a lone UTF-16 surrogate (which JSON's
``\\ud800`` escapes and URL decoding can produce) cannot be encoded to UTF-8 at all: either
would reach the database as a ``DataError`` or an encoding error, a 500. Every text input
is checked once, where it enters: the query string, the path and the headers in
``exchange_site.middleware.UnstorableTextMiddleware``, JSON bodies (at any depth, keys
included) in ``JSONParser`` here. Django's and DRF's form and serializer CharFields refuse
NUL on their own; these checks cover what reaches a view without a field."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from apikit.errors import InvalidInput, PayloadTooLarge

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Text must not contain NUL characters or unpaired surrogates."


def unstorable(text: str) -> bool:
    return UNSTORABLE.search(text) is not None


def printable(text: str) -> str:
    """``text`` with its unstorable characters written as escapes (``\\u0000``), so that
    an error message may name it (a lone surrogate cannot even be encoded to UTF-8)."""
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def unstorable_path(data: Any) -> str | None:
    """Where in a parsed JSON document (dicts, lists, strings, numbers) a string the
    database cannot store sits, as "a.b[2]"; None if there is none. Iterative: a deeply
    nested document cannot exhaust the stack here."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        for child_where, child in _children(where, value):
            if isinstance(child, str):
                if unstorable(child):
                    return printable(child_where) or "body"
            else:
                stack.append((child_where, child))
    return None


def _children(where: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            name = f"{where}.{key}" if where else str(key)
            if unstorable(key):
                yield name, key
            yield name, child
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield f"{where}[{index}]", child
    elif where == "" and isinstance(value, str):
        yield "", value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400, ``invalid_input``) any string the database cannot
    store, and a document nested too deeply to parse (a 400, not a RecursionError)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is not None:  # at most API_MAX_BODY_BYTES are read, then parsed
            limit = settings.API_MAX_BODY_BYTES
            raw = stream.read(limit + 1)
            if len(raw) > limit:
                raise PayloadTooLarge(
                    f"The request body is over {limit} bytes.", details={"limit": limit}
                )
            stream = io.BytesIO(raw)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        where = unstorable_path(data)
        if where is not None:
            raise InvalidInput(
                f"{where}: {UNSTORABLE_MESSAGE}", details={where: [UNSTORABLE_MESSAGE]}
            )
        return data


__all__ = ["UNSTORABLE_MESSAGE", "JSONParser", "printable", "unstorable", "unstorable_path"]
