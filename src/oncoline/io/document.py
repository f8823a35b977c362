"""Parsing patient documents: a YAML or JSON file → its parsed content, with every problem one
:class:`~oncoline.errors.InputError` naming the file, the field and the fix (a key given twice, a YAML stream, a
table or FHIR Shorthand given by mistake, a file that is not UTF-8); and the messages shared by the readers that
turn a document into a patient (:mod:`oncoline.io.patient_file` for patient blocks, :mod:`oncoline.io.fhir` for
FHIR), so that neither imports the other's internals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from oncoline.errors import InputError, UnknownDrugError

__all__ = [
    "PATIENT_FIELDS_HINT",
    "is_fhir",
    "load_document",
    "not_a_patient_reason",
    "parse_document",
    "validation_to_input_error",
]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (``her2:`` twice must never mean
    "the last one wins") and leaves dates as text, so that an impossible date (``2024-13-01``) is reported by
    the model with its field name instead of failing inside the YAML parser."""


_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} is given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); keep one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


class _FastUniqueKeyLoader(getattr(yaml, "CSafeLoader", _UniqueKeyLoader)):  # type: ignore[misc]
    """:class:`_UniqueKeyLoader` on PyYAML's C parser when it has one (a patient file parses in ~0.5 ms, not ~8).

    Only for valid text: the pure-Python parser's messages (a tab, a stray ':') are the ones the hints read, so
    text the C parser refuses is parsed again by :class:`_UniqueKeyLoader` for its error.
    """


_FastUniqueKeyLoader.yaml_implicit_resolvers = _UniqueKeyLoader.yaml_implicit_resolvers
_FastUniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _unique_keys(source: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise InputError(f"JSON key {key!r} is given twice in one object; keep one", source=source)
            out[key] = value
        return out

    return hook


def load_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but JSON errors are reported as JSON errors).

    Raises
    ------
    InputError
        When the file is missing, unreadable, empty, not valid YAML/JSON, gives a key twice in one mapping, or
        holds several YAML documents.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found; check the path", source=str(p))
    if p.is_dir():
        raise InputError("is a directory; give a patient file (.yaml, .yml or .json)", source=str(p))
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet", ".pq"):
        raise InputError(
            "is a table, not a patient file: for a cohort's exposures use `oncoline lines FILE --index INDEX "
            "--out LINES`; for one patient give a YAML/JSON patient file or a FHIR bundle",
            source=str(p),
        )
    if suffix == ".fsh":
        raise InputError(
            "is FHIR Shorthand (FSH) source, not FHIR JSON: compile it with SUSHI (`sushi .` in the IG folder) "
            "and give the generated JSON bundle or resource",
            source=str(p),
        )
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark at the start is not part of the data
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file ({exc}); save it as UTF-8 text", source=str(p)) from exc
    return parse_document(text, source=str(p), syntax="json" if suffix == ".json" else "yaml")


def parse_document(text: str, /, *, source: str, syntax: Literal["json", "yaml"] = "yaml") -> Any:
    """Parse YAML or JSON text already read (from a file, an upload or a request body).

    Parameters
    ----------
    text
        The document.
    source
        Its name in messages (a file path, an upload's name).
    syntax
        ``json`` reports JSON errors as JSON errors; ``yaml`` reads YAML (and so JSON too).

    Raises
    ------
    InputError
        When the text is empty, not valid YAML/JSON, gives a key twice in one mapping, or holds several YAML
        documents.
    """
    text = text.removeprefix("\ufeff")  # a byte-order mark (an upload, a request body) is not part of the data
    if not text.strip():
        raise InputError(f"the file is empty; give a patient block ({PATIENT_FIELDS_HINT})", source=source)
    try:
        if syntax == "json":
            return json.loads(text, object_pairs_hook=_unique_keys(source))
        try:
            return yaml.load(text, Loader=_FastUniqueKeyLoader)  # SafeLoader subclasses: safe
        except yaml.YAMLError:
            return yaml.load(text, Loader=_UniqueKeyLoader)  # the same refusal, with the messages the hints read
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            n = sum(1 for doc in yaml.safe_load_all(text) if doc is not None)
            raise InputError(
                f"holds {n} YAML documents (separated by ---); oncoline reads one patient per file: copy one "
                "document into its own file",
                source=source,
            ) from exc
        raise InputError(f"not valid YAML: {exc}", source=source) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{_line_shown(text, exc.lineno)}; "
            f"{_hint(exc.msg, _JSON_HINTS, 'check the commas, quotes and brackets just before this point')}",
            source=source,
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        shown = _line_shown(text, mark.line + 1) if mark is not None else ""
        fix = _hint(problem, _YAML_HINTS, "write one `key: value` per line, indented with spaces as the lines above")
        raise InputError(f"not valid YAML{where}: {problem}{shown}; {fix}", source=source) from exc


PATIENT_FIELDS_HINT = "`oncoline schema patient` lists every field; `oncoline recommend --help` names bundled examples"
"""Where a user finds the patient fields (works for an installed package, not only in a checkout)."""

_JSON_HINTS = (
    ("Expecting ',' delimiter", "a comma is missing between two items, or a quote or bracket before it is open"),
    ("Expecting property name", "keys are written in double quotes, and no comma follows the last item"),
    ("Expecting value", "a value is missing here: a trailing comma, or text without double quotes"),
    ("Extra data", "the document goes on after its end: give one JSON object"),
    ("Unterminated string", "a string is not closed: add its closing double quote"),
    ("Invalid control character", "a line break inside a string: close the quote on the same line"),
)
_YAML_HINTS = (
    ("mapping values are not allowed", "a ':' inside a value: put the value in quotes, or give the key its own line"),
    ("'\\t'", "indent with spaces, not tabs"),
    ("could not find expected ':'", "a key lacks its ':' (write key: value)"),
    ("did not find expected key", "this line's indentation does not match the lines above: align it with its siblings"),
    ("expected <block end>", "this line's indentation does not match the lines above: align it with its siblings"),
    ("did not find expected ','", "a [...] list or {...} mapping is not closed, or lacks a comma"),
    ("expected ',' or", "a [...] list or {...} mapping before here is not closed"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("found undefined alias", "'*' starts a YAML alias: put the value in quotes"),
    ("found character '@'", "'@' and '`' cannot start a value: put the value in quotes"),
)


def _hint(problem: str, hints: tuple[tuple[str, str], ...], default: str) -> str:
    """The fix for a parser's problem text (first hint whose key it contains), else ``default``."""
    return next((fix for key, fix in hints if key in problem), default)


def _line_shown(text: str, lineno: int) -> str:
    """`` (line N reads '…')``: what was given, cut to 60 characters; empty when the line does not exist."""
    lines = text.splitlines()
    if not 1 <= lineno <= len(lines) or not lines[lineno - 1].strip():
        return ""
    line = lines[lineno - 1].strip()
    return f" (line {lineno} reads {line[:60] + ('…' if len(line) > 60 else '')!r})"


def is_fhir(doc: Any) -> bool:
    """True when ``doc`` looks like a FHIR resource (has ``resourceType``)."""
    return isinstance(doc, dict) and "resourceType" in doc


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it or check its spelling (`oncoline schema patient` lists every field)",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "enum": "use one of the allowed values",
    "int_parsing": "give a whole number",
    "float_parsing": "give a number",
    "greater_than_equal": "give a value in range",
    "less_than_equal": "give a value in range",
    "list_type": "give a list, e.g. [a, b]",
    "model_type": "give a mapping of fields",
    "dict_type": "give a mapping of fields (key: value)",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write it as text (in quotes)",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number (no decimals)",
    "float_type": "give a number",
    "literal_error": "use one of the allowed values",
    "greater_than": "give a value in range",
    "less_than": "give a value in range",
    "too_short": "give at least the number of items named",
    "too_long": "give no more than the number of items named",
    "date_from_datetime_inexact": "write the date as YYYY-MM-DD (no time of day)",
    "datetime_parsing": "write the date as YYYY-MM-DD",
}


def validation_to_input_error(exc: ValidationError, *, source: str | None) -> InputError:
    """Turn a pydantic error into one :class:`InputError` naming the first bad field and how to fix it;
    further problems are counted in the message."""
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, UnknownDrugError):
        return UnknownDrugError(ctx_error.name, ctx_error.suggestions, source=source, field=field)
    message = str(first["msg"]).removeprefix("Value error, ")
    fix = _FIXES.get(str(first["type"]), "")
    given = first.get("input")
    if first["type"] in ("missing", "extra_forbidden"):
        shown = ""
    elif isinstance(given, (dict, list)):
        shown = f" (got a {'mapping' if isinstance(given, dict) else 'list'})"
    else:
        shown = f" (got {given!r})"
    more = f" [{len(errors) - 1} more problem(s) in this file]" if len(errors) > 1 else ""
    text = f"{message}{shown}" + (f"; {fix}" if fix and fix not in message else "") + more
    return InputError(text, source=source, field=field)


_PATIENT_KEYS = {"id", "age", "sex", "tumor", "sites", "history", "exposures", "conditions", "patient", "ecog"}


def not_a_patient_reason(doc: Any) -> str | None:
    """Why a parsed JSON/YAML document is clearly not a patient (a Synthea module, a test-vector file …), or
    None when it may be one. Used to give a specific error instead of a list of unknown fields."""
    if not isinstance(doc, dict):
        return None if doc is None else f"the top level is a {type(doc).__name__}, not a patient mapping"
    if "resourceType" in doc or _PATIENT_KEYS & set(doc):
        return None
    if "states" in doc and isinstance(doc["states"], dict):
        return (
            "this is a Synthea Generic Module Framework module (a state machine that generates synthetic "
            "patients), not a patient record; run Synthea with it to produce FHIR bundles, then give a bundle"
        )
    if "cases" in doc and isinstance(doc["cases"], list):
        return (
            "this is a file of test cases (a 'cases' list), not a patient record; give one patient "
            f"(a FHIR Bundle or a patient YAML: {PATIENT_FIELDS_HINT})"
        )
    keys = ", ".join(sorted(map(str, doc))[:6])
    return (
        f"neither a FHIR resource (no 'resourceType') nor a patient block (top-level keys: {keys}); give a FHIR "
        f"Bundle or a patient file ({PATIENT_FIELDS_HINT})"
    )
