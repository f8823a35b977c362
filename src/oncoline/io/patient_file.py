"""Read a patient from a YAML or JSON file: the FORMAT.md ``patient`` block, a whole case file, or a FHIR
bundle (delegated to :mod:`oncoline.io.fhir`).

Every problem becomes one :class:`~oncoline.errors.InputError` that names the file, the field and the fix —
never a traceback (issue #2, item 8).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from oncoline.errors import InputError, UnknownDrugError
from oncoline.model import Patient

__all__ = [
    "is_fhir",
    "load_document",
    "load_patient",
    "parse_document",
    "patient_from_mapping",
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
        text = p.read_text(encoding="utf-8")
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
    if not text.strip():
        raise InputError("the file is empty; give a patient block (see shared/cases/FORMAT.md)", source=source)
    try:
        if syntax == "json":
            return json.loads(text, object_pairs_hook=_unique_keys(source))
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
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
        raise InputError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source=source) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML{where}: {problem}", source=source) from exc


def is_fhir(doc: Any) -> bool:
    """True when ``doc`` looks like a FHIR resource (has ``resourceType``)."""
    return isinstance(doc, dict) and "resourceType" in doc


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it or check its spelling against shared/cases/FORMAT.md",
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
    shown = "" if first["type"] == "missing" or isinstance(given, (dict, list)) else f" (got {given!r})"
    more = f" [{len(errors) - 1} more problem(s) in this file]" if len(errors) > 1 else ""
    text = f"{message}{shown}" + (f"; {fix}" if fix and fix not in message else "") + more
    return InputError(text, source=source, field=field)


def patient_from_mapping(doc: Any, *, source: str | None = None) -> Patient:
    """Build a :class:`Patient` from a parsed patient block or a whole ``kind: patient`` case file.

    Raises
    ------
    InputError
        When the mapping does not fit the patient model (names the field and the fix), or holds an
        unknown drug (names the closest known drugs).
    """
    if not isinstance(doc, dict):
        raise InputError(
            f"expected a mapping of patient fields, got {type(doc).__name__}; see shared/cases/FORMAT.md",
            source=source,
        )
    if not doc:
        raise InputError(
            "holds no patient data (an empty mapping); give at least the tumour's HER2/ER/PR results, the metastatic "
            "diagnosis date, the sites and the treatment history (see shared/cases/FORMAT.md)",
            source=source,
        )
    if "patient" in doc and isinstance(doc["patient"], dict):  # a whole case file
        block = dict(doc["patient"])
        if doc.get("as_of") and "as_of" not in block:
            block["as_of"] = doc["as_of"]
        doc = block
    try:
        return Patient.model_validate(doc)
    except ValidationError as exc:
        # A foreign document (a Synthea module, a test-vector file) shares no key with the patient model and has
        # several keys; say what it is. A patient block with a misspelt field keeps the field-level message.
        foreign = len(doc) >= 3 and not set(doc) & set(Patient.model_fields)
        from oncoline.io.fhir import not_a_patient_reason  # error path only

        reason = not_a_patient_reason(doc) if foreign else None
        if reason:
            raise InputError(reason, source=source) from exc
        raise validation_to_input_error(exc, source=source) from exc


def load_patient(
    path: str | Path,
    /,
    *,
    as_of: dt.date | None = None,
    policy: Literal["ignore", "warn", "raise"] = "warn",
) -> Patient:
    """Read one patient from a YAML/JSON patient file, case file or FHIR bundle.

    Parameters
    ----------
    path
        A ``.yaml``/``.yml``/``.json`` file.
    as_of
        For FHIR input: the date ages and the data cut-off are computed at (the patient's own ``as_of`` wins).
    policy
        For FHIR input: what to do with each data-quality problem — ``ignore``, ``warn`` (a
        :class:`~oncoline.errors.DataQualityWarning` each, the default) or ``raise``.

    Returns
    -------
    Patient
        For FHIR input, the patient mapped by :func:`oncoline.io.fhir.patient_from_fhir` (its ingestion
        report is dropped here; use that function to keep it).

    Raises
    ------
    InputError
        File missing/unreadable/not YAML or JSON, a malformed field, or an unknown drug.
    """
    doc = load_document(path)
    if is_fhir(doc):
        from oncoline.io import fhir  # lazy: keeps fhir.resources off the YAML path

        patient, _report = fhir.patient_from_fhir(doc, source=str(path), policy=policy, as_of=as_of)
        return patient
    return patient_from_mapping(doc, source=str(path))
