"""The knowledge base as the doors show it: lint, a summary of versions and files, one entry by id."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.knowledge.lint import LintProblem
    from oncoline.knowledge.loader import KnowledgeBase

__all__ = ["KnowledgeEntry", "knowledge_entry", "knowledge_pools", "knowledge_summary", "lint_knowledge_base"]

_COMPANIONS: tuple[tuple[str, str, str], ...] = (
    ("drugs.yaml", "oncoline.knowledge.drugs", "load_vocabulary"),
    ("her2_testing.yaml", "oncoline.engines.her2", "load_her2_rules"),
    ("lines.yaml", "oncoline.engines.lines.params", "load_line_params"),
    ("fhir_codes.yaml", "oncoline.io.fhir_codes", "load_fhir_codes"),
    ("omop_concepts.yaml", "oncoline.io.omop.concepts", "load_omop_concepts"),
)
"""Knowledge files beside the recommendation knowledge, each validated by its own loader."""


def _companion_problems() -> list[LintProblem]:
    """Load-check the knowledge files beside the recommendation knowledge: the drug vocabulary, the ASCO/CAP HER2
    table, the line-of-therapy parameters and the FHIR / OMOP code maps (each validates its schema on load)."""
    from oncoline.errors import OncolineError
    from oncoline.knowledge.lint import LintProblem

    problems: list[LintProblem] = []
    for name, module, function in _COMPANIONS:
        try:
            getattr(importlib.import_module(module), function)()
        except (OncolineError, ValueError, KeyError, TypeError) as exc:
            problems.append(LintProblem(severity="error", message=f"{name}: {exc}"))
    return problems


def lint_knowledge_base(data_dir: Path | None = None, /) -> list[LintProblem]:
    """Check schemas, citations, drugs, regimens and contradicting rule pairs.

    Parameters
    ----------
    data_dir
        Lint these recommendation-knowledge files instead of the packaged ones (the companion files — drugs,
        HER2 table, line parameters, FHIR and OMOP code maps — are checked only for the packaged knowledge).

    Returns
    -------
    list of LintProblem
        Errors and warnings, in the order found (empty: clean).
    """
    from oncoline.knowledge.lint import lint_knowledge

    problems = lint_knowledge(data_dir)
    if data_dir is None:
        problems += _companion_problems()
    return problems


def knowledge_pools(kb: KnowledgeBase, /) -> dict[str, dict[str, Any]]:
    """Entries by kind (``source``, ``evidence``, ``regimen``, ``statement``, ``safety rule``, ``forbidden
    combination``, ``monitoring``, ``action``), each a mapping id → entry model."""
    return {
        "source": dict(kb.sources),
        "evidence": dict(kb.evidence),
        "regimen": dict(kb.regimens),
        "statement": {s.id: s for s in kb.statements},
        "safety rule": {r.id: r for r in kb.safety.rules},
        "forbidden combination": {r.id: r for r in kb.safety.forbidden_combinations},
        "monitoring": {r.id: r for r in kb.safety.monitoring},
        "action": {a.id: a for a in kb.actions},
    }


def knowledge_summary(kb: KnowledgeBase | None = None, /) -> dict[str, Any]:
    """The knowledge version and its files.

    Returns
    -------
    dict
        ``version``, ``effective`` (ISO date), ``files`` (file stem → schema, version, effective) and ``counts``
        (kind → entries), JSON-ready.

    Raises
    ------
    KnowledgeBaseError
        The knowledge fails to load.
    """
    from oncoline.knowledge.loader import load_knowledge

    kb = kb or load_knowledge()
    return {
        "version": kb.version,
        "effective": kb.effective.isoformat(),
        "files": {
            stem: {"schema": h.schema_, "version": h.version, "effective": h.effective.isoformat()}
            for stem, h in kb.headers.items()
        },
        "counts": {kind: len(pool) for kind, pool in knowledge_pools(kb).items()},
    }


@dataclass(frozen=True)
class KnowledgeEntry:
    """One knowledge entry: its kind (see :func:`knowledge_pools`), id, the knowledge version and its fields
    (JSON-ready, by alias, defaults left out)."""

    kind: str
    id: str
    version: str
    data: dict[str, Any]


def knowledge_entry(entry_id: str, /, kb: KnowledgeBase | None = None) -> KnowledgeEntry:
    """Look up one knowledge entry by id (a source, evidence, regimen, statement, rule or action).

    Raises
    ------
    InputError
        No entry has that id.
    KnowledgeBaseError
        The knowledge fails to load.
    """
    from oncoline.knowledge.loader import load_knowledge

    kb = kb or load_knowledge()
    for kind, pool in knowledge_pools(kb).items():
        if entry_id in pool:
            data = pool[entry_id].model_dump(mode="json", by_alias=True, exclude_defaults=True)
            return KnowledgeEntry(kind, entry_id, kb.version, data)
    raise InputError(f"no knowledge entry with id {entry_id!r}; run `oncoline kb show` for the counts by kind")
