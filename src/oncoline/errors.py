"""The oncoline error tree.

::

    OncolineError                      root of every error raised on purpose
    ├── InputError(ValueError)          a patient, exposure, FHIR or OMOP input that cannot be used as given
    │   └── UnknownDrugError            a drug name or code that the drug vocabulary does not know
    ├── KnowledgeBaseError              knowledge files that fail their schema or cross-references
    ├── EngineError                     an engine reached a state its rules do not cover (a bug, not bad input)
    └── BackendError                    DuckDB, Spark or PostgreSQL failed or is missing

    OncolineWarning(UserWarning)
    └── DataQualityWarning              a record was repaired, skipped or guessed at, and counted (policy "warn")

Every error message names what was wrong, where (file, field, record id) and how to fix it (house style S14).
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "DataQualityWarning",
    "EngineError",
    "InputError",
    "KnowledgeBaseError",
    "OncolineError",
    "OncolineWarning",
    "UnknownDrugError",
]


class OncolineError(Exception):
    """Root of every error oncoline raises on purpose."""


class InputError(OncolineError, ValueError):
    """Input that cannot be used as given.

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    source
        The file (or resource id) the input came from, when known.
    field
        The dotted path of the offending field, e.g. ``tumor.her2.ish_ratio``.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        self.source = source
        self.field = field
        where = ", ".join(part for part in (source, f"field {field!r}" if field else None) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownDrugError(InputError):
    """A drug name or code that the drug vocabulary does not know; ``suggestions`` holds the closest names."""

    def __init__(
        self,
        name: str,
        suggestions: list[str],
        *,
        source: str | None = None,
        field: str | None = None,
    ) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown drug {name!r}.{hint} Use a generic (INN) name, a known brand or an RxNorm code.",
            source=source,
            field=field,
        )


class KnowledgeBaseError(OncolineError):
    """Knowledge files that fail their schema, cite an unknown source or contradict each other."""


class EngineError(OncolineError):
    """An engine reached a state its rules do not cover; this is a bug to report, not bad input."""


class BackendError(OncolineError):
    """A compute or database back end (DuckDB, Spark, PostgreSQL) failed or is not installed."""


class OncolineWarning(UserWarning):
    """Root of oncoline's warnings."""


class DataQualityWarning(OncolineWarning):
    """A record was repaired, skipped or reported under the ``warn`` validation policy."""
