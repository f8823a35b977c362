"""Load the knowledge base: seven versioned YAML files under ``knowledge/data`` validated by
:mod:`oncoline.knowledge.schema`, cross-checked, and indexed for the recommender.

>>> kb = load_knowledge()
>>> kb.version
'2026.11.29'
>>> "ASCO-HER2-2022" in kb.sources
True
>>> sorted(kb.expand(("taxane",)))
['docetaxel', 'nab-paclitaxel', 'paclitaxel']

Loading fails (:class:`~oncoline.errors.KnowledgeBaseError`) on a schema violation, a dangling citation, an
unknown drug or regimen, or a duplicate id (house style S2); ``oncoline kb lint`` reports every problem at once
and adds the checks that need judgement (contradicting rule pairs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.drugs import DrugVocabulary, load_vocabulary
from oncoline.knowledge.schema import (
    SCHEMAS,
    ActionRule,
    Condition,
    DecisionText,
    DecisionTextFile,
    Evidence,
    EvidenceFile,
    FileHeader,
    Regimen,
    RegimenFile,
    SafetyFile,
    SiteActionFile,
    Slot,
    Source,
    SourceFile,
    Statement,
    StatementFile,
    StatementParameters,
)

__all__ = ["KNOWLEDGE_FILES", "KnowledgeBase", "load_knowledge", "read_files", "reference_problems", "typed_files"]

KNOWLEDGE_FILES = tuple(SCHEMAS)
"""The knowledge files, by stem: sources, evidence, regimens, statements, safety, site_actions, decision_texts."""

try:  # the C loader is ~10x faster: it keeps `oncoline recommend` well under a second
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


def _read_text(stem: str, data_dir: Path | None) -> tuple[str, str]:
    name = f"{stem}.yaml"
    if data_dir is None:
        res = resources.files("oncoline.knowledge").joinpath(f"data/{name}")
        return f"knowledge/data/{name}", res.read_text(encoding="utf-8")
    path = data_dir / name
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read ({exc})") from exc


def read_files(data_dir: Path | None = None) -> dict[str, FileHeader]:
    """Parse and schema-validate every knowledge file.

    Parameters
    ----------
    data_dir
        A folder holding the seven ``*.yaml`` files; ``None`` reads the packaged knowledge.

    Returns
    -------
    dict
        File stem → validated file model.

    Raises
    ------
    KnowledgeBaseError
        A file is missing, not YAML, has the wrong ``schema`` header or fails its schema (the message names
        the file and the first bad field).
    """
    out: dict[str, FileHeader] = {}
    for stem, model in SCHEMAS.items():
        where, text = _read_text(stem, data_dir)
        try:
            raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"{where}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise KnowledgeBaseError(f"{where}: expected a mapping with a header and entries")
        want = f"oncoline.kb.{stem}/1"
        if raw.get("schema") != want:
            raise KnowledgeBaseError(f"{where}: header `schema` must be {want!r}, got {raw.get('schema')!r}")
        try:
            out[stem] = model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            more = f" [{len(exc.errors()) - 1} more problem(s)]" if len(exc.errors()) > 1 else ""
            raise KnowledgeBaseError(f"{where}: field {loc!r}: {first['msg']}{more}") from exc
    return out


def _conditions_of(files: dict[str, FileHeader]) -> Iterable[tuple[str, Condition]]:
    _sources, _evidence, regimens, statements, safety, actions = typed_files(files)
    for s in statements.statements:
        yield f"statement {s.id}", s.when
    for r in regimens.regimens:
        for p in r.prerequisites:
            yield f"regimen {r.id} prerequisite {p.id}", p.when
        for i, n in enumerate(r.conditional_notes):
            yield f"regimen {r.id} conditional note {i}", n.when
    for rule in safety.rules:
        yield f"safety rule {rule.id}", rule.when
    for a in safety.adjuncts:
        yield f"adjunct {a.id}", a.when
    for m in safety.monitoring:
        yield f"monitoring {m.id}", m.when
    for w in safety.warnings:
        yield f"warning {w.id}", w.when
    for ask in safety.asks:
        yield f"ask {ask.id}", ask.when
    for act in actions.actions:
        yield f"action {act.id}", act.when


def _citations_of(files: dict[str, FileHeader]) -> Iterable[tuple[str, str]]:
    _sources, evidence, regimens, statements, safety, actions = typed_files(files)
    for c in statements.parameters.citations:
        yield "statements.yaml parameters", c
    for s in statements.statements:
        for c in s.citations:
            yield f"statement {s.id}", c
        for f in s.flags:
            for c in () if isinstance(f, str) else f.citations:
                yield f"statement {s.id} flag", c
    for r in regimens.regimens:
        for n in r.conditional_notes:
            for c in n.citations:
                yield f"regimen {r.id} note", c
        for p in r.prerequisites:
            for c in p.citations:
                yield f"regimen {r.id} prerequisite {p.id}", c
    for c in safety.progression.citations:
        yield "safety progression policy", c
    if safety.progression.early_endocrine_resistance is not None:
        for c in safety.progression.early_endocrine_resistance.citations:
            yield "safety progression policy early_endocrine_resistance", c
    for group in (
        safety.rules,
        safety.forbidden_combinations,
        safety.adjuncts,
        safety.monitoring,
        safety.warnings,
        safety.asks,
    ):
        for item in group:
            for c in item.citations:
                yield f"safety {item.id}", c
    for act in actions.actions:
        for c in act.citations:
            yield f"action {act.id}", c
    for e in evidence.evidence:
        yield f"evidence {e.id}", e.source
    texts = files["decision_texts"]
    assert isinstance(texts, DecisionTextFile)
    for t in texts.texts:
        for c in t.citations:
            yield f"decision text {t.id}", c


TypedFiles = tuple[SourceFile, EvidenceFile, RegimenFile, StatementFile, SafetyFile, SiteActionFile]


def typed_files(files: dict[str, FileHeader]) -> TypedFiles:
    """The six knowledge files with their own types (sources, evidence, regimens, statements, safety, actions)."""
    sources = files["sources"]
    evidence = files["evidence"]
    regimens = files["regimens"]
    statements = files["statements"]
    safety = files["safety"]
    actions = files["site_actions"]
    assert isinstance(sources, SourceFile) and isinstance(evidence, EvidenceFile)
    assert isinstance(regimens, RegimenFile) and isinstance(statements, StatementFile)
    assert isinstance(safety, SafetyFile) and isinstance(actions, SiteActionFile)
    return sources, evidence, regimens, statements, safety, actions


def reference_problems(files: dict[str, FileHeader], vocab: DrugVocabulary) -> list[str]:
    """Cross-reference problems: dangling citations/evidence/regimens, unknown drugs or classes, duplicate ids,
    statements without a citation, files of different versions.

    Returns
    -------
    list of str
        One message per problem (empty when the knowledge is consistent).
    """
    problems: list[str] = []
    sources, evidence, regimens, statements, safety, actions = typed_files(files)

    versions = {stem: f.version for stem, f in files.items()}
    if len(set(versions.values())) != 1:
        problems.append(f"knowledge files carry different versions: {versions}")

    def dupes(kind: str, ids: Iterable[str]) -> None:
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                problems.append(f"duplicate {kind} id {i!r}")
            seen.add(i)

    dupes("source", (s.id for s in sources.sources))
    dupes("evidence", (e.id for e in evidence.evidence))
    dupes("regimen", (r.id for r in regimens.regimens))
    dupes("statement", (s.id for s in statements.statements))
    dupes(
        "safety",
        (
            i.id
            for group in (safety.rules, safety.forbidden_combinations, safety.adjuncts, safety.monitoring, safety.asks)
            for i in group
        ),
    )
    dupes("action", (a.id for a in actions.actions))
    texts = files["decision_texts"]
    assert isinstance(texts, DecisionTextFile)
    dupes("decision text", (t.id for t in texts.texts))
    for t in texts.texts:
        try:
            t.placeholders()
        except ValueError as exc:
            problems.append(f"decision text {t.id}: not a valid format string ({exc}); write a literal brace as {{{{")
    dupes(
        "prerequisite",
        (p.id for r in regimens.regimens for p in r.prerequisites),
    )

    source_ids = {s.id for s in sources.sources}
    for where, cite in _citations_of(files):
        if cite not in source_ids:
            problems.append(f"{where}: cites unknown source {cite!r} (add it to sources.yaml)")

    def known_token(token: str) -> bool:
        return token in vocab.classes or vocab.lookup(token) is not None

    def check_drug(where: str, token: str) -> None:
        if not known_token(token):
            suggestions = vocab.suggest(token)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            problems.append(f"{where}: unknown drug or class {token!r}{hint}")

    for r in regimens.regimens:
        for d in r.drugs:
            for token in d.choices if isinstance(d, Slot) else (d,):
                check_drug(f"regimen {r.id}", token)
                if token in vocab.classes:
                    problems.append(f"regimen {r.id}: {token!r} is a class; a regimen names drugs or slots")
    for where, cond in _conditions_of(files):
        for token in cond.drug_tokens():
            check_drug(where, token)
    for rule in safety.rules:
        for token in rule.drugs:
            check_drug(f"safety rule {rule.id}", token)
    for fc in safety.forbidden_combinations:
        for token in fc.together:
            check_drug(f"forbidden combination {fc.id}", token)
    for adj in safety.adjuncts:
        for token in (*adj.if_option_has, *adj.unless_option_has, adj.add):
            check_drug(f"adjunct {adj.id}", token)
    for mon in safety.monitoring:
        for token in (*mon.drugs, *mon.together_with):
            check_drug(f"monitoring {mon.id}", token)
    for token in (*safety.progression.beyond_progression_allowed,):
        check_drug("progression policy", token)
    if safety.progression.early_endocrine_resistance is not None:
        for token in safety.progression.early_endocrine_resistance.resistant_classes:
            check_drug("progression policy early_endocrine_resistance", token)
    for group, members in safety.progression.cross_resistance.items():
        for token in members:
            check_drug(f"cross-resistance group {group}", token)

    for cls in statements.parameters.induction_classes:
        if cls not in vocab.classes:
            problems.append(f"statements.yaml parameters: induction class {cls!r} is not a drug class")
    regimen_ids = {r.id for r in regimens.regimens}
    evidence_ids = {e.id for e in evidence.evidence}
    for s in statements.statements:
        if not s.citations:
            problems.append(f"statement {s.id}: no citation")
        if s.regimen not in regimen_ids:
            problems.append(f"statement {s.id}: unknown regimen {s.regimen!r}")
        for ev in s.evidence:
            if ev not in evidence_ids:
                problems.append(f"statement {s.id}: unknown evidence {ev!r}")
        if s.expires is not None and s.expires <= s.effective:
            problems.append(f"statement {s.id}: expires {s.expires} on or before it takes effect {s.effective}")
    return problems


@dataclass(frozen=True)
class KnowledgeBase:
    """The loaded, cross-checked knowledge (read-only).

    Attributes
    ----------
    version
        Knowledge version shared by all files (``kb_version`` of every answer).
    effective
        Latest ``effective`` date of the files.
    texts
        Decision wording by id (``decision_texts.yaml``), filled by :meth:`text`.
    """

    version: str
    effective: dt.date
    vocab: DrugVocabulary
    sources: dict[str, Source]
    evidence: dict[str, Evidence]
    regimens: dict[str, Regimen]
    statement_file: StatementFile
    safety: SafetyFile
    actions: tuple[ActionRule, ...]
    headers: dict[str, FileHeader] = field(repr=False)
    texts: dict[str, DecisionText] = field(default_factory=dict)
    _expand_cache: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def statements(self) -> tuple[Statement, ...]:
        """All statements, in file order (file order ranks options within a category)."""
        return self.statement_file.statements

    @property
    def params(self) -> StatementParameters:
        """Algorithm thresholds (:class:`~oncoline.knowledge.schema.StatementParameters`)."""
        return self.statement_file.parameters

    def statements_as_of(self, as_of: dt.date, /) -> tuple[Statement, ...]:
        """Statements in effect on ``as_of`` (effective ≤ as_of < expires)."""
        return tuple(s for s in self.statements if s.effective <= as_of and (s.expires is None or as_of < s.expires))

    def expand(self, tokens: tuple[str, ...], /) -> frozenset[str]:
        """Canonical drug names for drug or class tokens (classes expand to their members)."""
        hit = self._expand_cache.get(tokens)
        if hit is not None:
            return hit
        out: set[str] = set()
        for token in tokens:
            if token in self.vocab.classes:
                out.update(self.vocab.members(token))
            else:
                out.update(self.vocab.resolve(token))
        result = frozenset(out)
        self._expand_cache[tokens] = result
        return result

    def text(self, text_id: str, /, **values: object) -> str:
        """The decision text ``text_id`` with its placeholders filled by ``str.format(**values)``.

        Raises
        ------
        KnowledgeBaseError
            ``text_id`` is not in ``decision_texts.yaml`` or a placeholder is not among ``values``.
        """
        entry = self.texts.get(text_id)
        if entry is None:
            raise KnowledgeBaseError(f"decision_texts.yaml: no text {text_id!r} (the recommender needs it)")
        try:
            return entry.text.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise KnowledgeBaseError(
                f"decision_texts.yaml: text {text_id!r} cannot be filled from {sorted(values)} ({exc!r})"
            ) from exc

    def in_class(self, drug: str, code: str, /) -> bool:
        """True when canonical ``drug`` belongs to vocabulary class ``code``."""
        return self.vocab.in_class(drug, code)


def build_knowledge(files: dict[str, FileHeader]) -> KnowledgeBase:
    """Index validated files into a :class:`KnowledgeBase`.

    Raises
    ------
    KnowledgeBaseError
        When :func:`reference_problems` finds any problem (all are listed).
    """
    vocab = load_vocabulary()
    problems = reference_problems(files, vocab)
    if problems:
        listed = "\n  - ".join(problems)
        raise KnowledgeBaseError(f"{len(problems)} knowledge problem(s):\n  - {listed}")
    sources, evidence, regimens, statements, safety, actions = typed_files(files)
    texts = files["decision_texts"]
    assert isinstance(texts, DecisionTextFile)
    return KnowledgeBase(
        version=statements.version,
        effective=max(f.effective for f in files.values()),
        vocab=vocab,
        sources={s.id: s for s in sources.sources},
        evidence={e.id: e for e in evidence.evidence},
        regimens={r.id: r for r in regimens.regimens},
        statement_file=statements,
        safety=safety,
        actions=actions.actions,
        headers=dict(files),
        texts={t.id: t for t in texts.texts},
    )


@cache
def _packaged() -> KnowledgeBase:
    """The packaged knowledge, from the validated on-disk cache when it holds one for exactly these files
    (:mod:`oncoline.knowledge.cache`), else loaded, validated and cached."""
    from oncoline.knowledge.cache import cache_dir, cached, packaged_inputs

    return cached(
        "knowledge", lambda: build_knowledge(read_files(None)), inputs=packaged_inputs(), directory=cache_dir()
    )


def load_knowledge(data_dir: Path | None = None) -> KnowledgeBase:
    """The knowledge base: the packaged one (loaded once per process) or the files in ``data_dir``.

    Parameters
    ----------
    data_dir
        Folder holding ``sources.yaml``, ``evidence.yaml``, ``regimens.yaml``, ``statements.yaml``,
        ``safety.yaml``, ``site_actions.yaml`` and ``decision_texts.yaml``; ``None`` = the packaged knowledge (cached).

    Raises
    ------
    KnowledgeBaseError
        When a file fails its schema or a cross-reference (see :func:`reference_problems`).
    """
    if data_dir is None:
        return _packaged()
    return build_knowledge(read_files(data_dir))
