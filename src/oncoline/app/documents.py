"""Documents in: a file path, or content already in memory (an upload, a request body) with its media type.

Every use case that reads one patient, one events block or one HER2 result takes a :data:`DocumentSource`, so a
command line passes a path and an HTTP service passes the bytes it received, and both meet the same parsing,
the same checks and the same messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from oncoline.errors import InputError

__all__ = ["MEDIA_TYPES", "DocumentSource", "ParsedDocument", "read_document"]

DocumentSource = os.PathLike[str] | bytes | str
"""A path (:class:`os.PathLike`, e.g. :class:`pathlib.Path`), or the document's content as ``bytes`` (UTF-8) or
``str``. Content needs a ``media_type``; a plain ``str`` is content, never a path (wrap paths in ``Path``)."""

MEDIA_TYPES: dict[str, Literal["json", "yaml"]] = {
    "application/json": "json",
    "application/fhir+json": "json",
    "text/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}
"""Media types accepted for in-memory content (parameters such as ``; charset=utf-8`` are ignored)."""


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed YAML/JSON document and the name it goes by in messages.

    Attributes
    ----------
    data
        The parsed document (mapping, list or scalar, as written).
    source
        The file path as given, or the ``name`` given with in-memory content (default ``"<upload>"``).
    """

    data: Any
    source: str


def _syntax(media_type: str, source: str) -> Literal["json", "yaml"]:
    key = media_type.split(";", 1)[0].strip().lower()
    try:
        return MEDIA_TYPES[key]
    except KeyError:
        raise InputError(
            f"media type {media_type!r} is not a patient document; send one of {', '.join(MEDIA_TYPES)}",
            source=source,
        ) from None


def read_document(
    source: DocumentSource, /, *, media_type: str | None = None, name: str | None = None
) -> ParsedDocument:
    """Parse a YAML or JSON document from a path or from content in memory.

    Parameters
    ----------
    source
        A path, or the content (``bytes`` in UTF-8, or ``str``).
    media_type
        Required for content: ``application/json``, ``application/fhir+json``, ``application/yaml`` … (see
        :data:`MEDIA_TYPES`). Ignored for a path (its suffix decides: ``.json`` is JSON, anything else YAML).
    name
        The content's name in messages (an upload's file name); default ``"<upload>"``. Ignored for a path.

    Returns
    -------
    ParsedDocument
        The parsed data and the name messages use.

    Raises
    ------
    InputError
        A missing, unreadable, empty or non-UTF-8 document, a YAML/JSON syntax error (with line and column), a
        key given twice in one mapping, several YAML documents, an unknown media type or content without one.
    """
    from oncoline.io.document import load_document, parse_document

    if isinstance(source, os.PathLike):
        path = Path(source)
        return ParsedDocument(load_document(path), str(path))
    shown = name or "<upload>"
    if media_type is None:
        raise InputError(
            "content given without a media type; give application/json, application/fhir+json or application/yaml",
            source=shown,
        )
    syntax = _syntax(media_type, shown)
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"cannot read the content ({exc}); save it as UTF-8 text", source=shown) from exc
    else:
        text = source
    return ParsedDocument(parse_document(text, source=shown, syntax=syntax), shown)
