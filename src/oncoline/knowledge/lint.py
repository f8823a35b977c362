"""``oncoline kb lint``: every problem of the knowledge files at once (house style S3).

Errors (lint fails):

- a file that is not YAML, lacks its header, or fails its schema (a statement without a citation included);
- a dangling reference: citation, evidence, regimen;
- an unknown drug or class, a duplicate id, files of different versions;
- an overlapping rule pair that contradicts itself: two statements placing the same regimen for the same
  population in different categories on a common day; two safety rules with the same condition on the same drug, one
  contraindicating and one only cautioning; a statement whose population always meets a contraindication of
  one of its regimen's fixed drugs (it could never be offered); a regimen holding a forbidden combination;
- a statement citing an UNCONFIRMED source without saying so (a flag or ``guideline_status``);
- a statement taking effect before a source it cites (or expiring before it takes effect): a statement takes
  effect no earlier than every source it cites, so an answer ``as of`` a date never rests on a later source
  (``kind: reference`` - the knowledge base's own conventions - does not date what cites it);
- a safety rule for a band of a measurement (``crcl_at_least`` + ``crcl_below``, the same for LVEF) whose
  drugs have no rule below the band: a patient worse off than the band would silently get nothing;
- a decision text the recommender uses (``engine.TEXTS_USED``) missing from ``decision_texts.yaml``, or holding a
  placeholder the recommender does not supply (warning: a text no code uses);
- the traceability matrix (``reference_trace.yaml``, :mod:`oncoline.knowledge.trace`): a rule of the reference
  §a-§g without an entry, an entry naming a knowledge id that does not exist, an encoded rule without an existing,
  non-xfail test (without the reference file - a pip install - only the matrix itself is checked, and a warning
  says so).
- a patient text (``patient_texts/<lang>.yaml``) not tied to an existing knowledge entry, above grade 8 or missing
  for an entry the patient summary can show (:func:`oncoline.knowledge.patient_texts.patient_text_problems`).

>>> [p for p in lint_knowledge() if p.severity == "error"]
[]
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.knowledge.loader import read_files, reference_problems, typed_files
from oncoline.knowledge.schema import (
    Condition,
    DecisionTextFile,
    FileHeader,
    SafetyFile,
    Slot,
    SourceFile,
    Statement,
    StatementFile,
)

__all__ = ["LintProblem", "lint_knowledge"]


@dataclass(frozen=True)
class LintProblem:
    """One finding of ``kb lint``."""

    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def _implies(general: Condition, specific: Condition) -> bool:
    """True when every predicate of ``general`` appears, with the same value, in ``specific`` (syntactic)."""
    if general.any_of or general.all_of or general.not_ is not None:
        return general == specific
    g, s = general.items(), specific.items()
    return bool(g) and all(k in s and s[k] == v for k, v in g.items())


def _overlap(a: Statement, b: Statement) -> bool:
    """True when the two statements are in effect on some common day."""
    never = dt.date.max
    return a.effective < (b.expires or never) and b.effective < (a.expires or never)


def _contradictions(files: dict[str, FileHeader]) -> list[str]:
    sources, _evidence, regimens, statements, safety, _actions = typed_files(files)
    vocab = load_vocabulary()
    out: list[str] = []

    def expand(tokens: tuple[str, ...]) -> set[str]:
        result: set[str] = set()
        for t in tokens:
            if t in vocab.classes:
                result.update(vocab.members(t))
            elif vocab.lookup(t):
                result.update(vocab.resolve(t))
        return result

    for a, b in itertools.combinations(statements.statements, 2):
        if (
            a.regimen == b.regimen
            and a.her2_scope == b.her2_scope
            and a.when == b.when
            and a.category != b.category
            and _overlap(a, b)
        ):
            out.append(
                f"statements {a.id} and {b.id} place regimen {a.regimen!r} for the same population as "
                f"{a.category} and {b.category}"
            )
    for r1, r2 in itertools.combinations(safety.rules, 2):
        if r1.when == r2.when and r1.severity != r2.severity and expand(r1.drugs) & expand(r2.drugs):
            shared = sorted(expand(r1.drugs) & expand(r2.drugs))
            out.append(
                f"safety rules {r1.id} ({r1.severity}) and {r2.id} ({r2.severity}) have the same condition for {shared}"
            )
    by_id = {r.id: r for r in regimens.regimens}
    for s in statements.statements:
        reg = by_id.get(s.regimen)
        if reg is None:
            continue
        fixed = {d for d in reg.drugs if isinstance(d, str)}
        for rule in safety.rules:
            if rule.severity == "contraindicated" and _implies(rule.when, s.when):
                hit = sorted(fixed & expand(rule.drugs))
                if hit:
                    out.append(
                        f"statement {s.id} places {reg.id!r} for a population that safety rule {rule.id} always "
                        f"excludes ({', '.join(hit)}): it can never be offered"
                    )
    for reg in regimens.regimens:
        slots = [d.choices if isinstance(d, Slot) else (d,) for d in reg.drugs]
        for fc in safety.forbidden_combinations:
            groups = [expand((t,)) for t in fc.together]
            for combo in itertools.product(*slots) if slots else ():
                if all(g & set(combo) for g in groups):
                    out.append(f"regimen {reg.id} can form the forbidden combination {fc.id} ({' + '.join(combo)})")
                    break
    unconfirmed = {src.id for src in sources.sources if src.status == "unconfirmed"}
    for s in statements.statements:
        cited = sorted(set(s.citations) & unconfirmed)
        said = " ".join((*(f if isinstance(f, str) else f.text for f in s.flags), s.guideline_status or "")).upper()
        if cited and "UNCONFIRMED" not in said:
            out.append(
                f"statement {s.id} cites UNCONFIRMED source(s) {cited} but neither a flag nor guideline_status says so"
            )
        for f in s.flags:
            if not isinstance(f, str) and set(f.citations) & unconfirmed and "UNCONFIRMED" not in f.text.upper():
                out.append(f"statement {s.id}: a flag rests on an UNCONFIRMED source but does not say so: {f.text!r}")
    out.extend(_temporal(statements, sources))
    out.extend(_band_gaps(safety, expand))
    return out


def _temporal(statements: StatementFile, sources: SourceFile) -> list[str]:
    """A statement takes effect no earlier than every source it cites (house style S2, issue #2)."""
    by_id = {src.id: src for src in sources.sources}
    out: list[str] = []
    for s in statements.statements:
        for cite in s.citations:
            src = by_id.get(cite)
            if src is not None and src.dates_knowledge and src.date > s.effective:
                out.append(
                    f"statement {s.id} takes effect {s.effective}, before {cite} ({src.date}) that it cites: a "
                    "statement takes effect no earlier than every source it cites - move the date, or cite the "
                    "earlier source (a later trial publication belongs in `evidence`)"
                )
    return out


_BANDS = (("crcl_at_least", "crcl_below", "CrCl"), ("lvef_at_least", "lvef_below", "LVEF"))


def _band_gaps(safety: SafetyFile, expand: Callable[[tuple[str, ...]], set[str]]) -> list[str]:
    """A safety rule for a band [low, high) of a measurement needs a rule for the same drugs below ``low``."""
    out: list[str] = []
    for low_key, high_key, name in _BANDS:
        for rule in safety.rules:
            low = getattr(rule.when, low_key)
            if low is None or getattr(rule.when, high_key) is None:
                continue
            uncovered = set(expand(rule.drugs))
            for other in safety.rules:
                below, floor = getattr(other.when, high_key), getattr(other.when, low_key)
                if other is not rule and below is not None and below >= low and (floor is None or floor < low):
                    uncovered -= expand(other.drugs)
            if uncovered:
                out.append(
                    f"safety rule {rule.id} covers {name} {low}-{getattr(rule.when, high_key)} but no rule covers "
                    f"{name} below {low} for {sorted(uncovered)}: add the rule for the worse band"
                )
    return out


def _text_problems(files: dict[str, FileHeader], used: Mapping[str, frozenset[str]]) -> tuple[list[str], list[str]]:
    """Decision texts against what the engine reads: ``used`` maps text id → placeholder names supplied.

    Returns
    -------
    tuple of (list of str, list of str)
        Errors (an id the engine reads is missing; a placeholder it does not supply) and warnings (unused ids).
    """
    texts = files["decision_texts"]
    assert isinstance(texts, DecisionTextFile)
    by_id = {t.id: t for t in texts.texts}
    errors: list[str] = []
    for text_id, supplied in used.items():
        entry = by_id.get(text_id)
        if entry is None:
            errors.append(f"decision_texts.yaml: text {text_id!r} is used by the recommender but not defined")
            continue
        try:
            extra = sorted(entry.placeholders() - supplied)
        except ValueError:
            continue  # reported by reference_problems
        if extra:
            errors.append(
                f"decision text {text_id}: placeholder(s) {extra} are not supplied by the recommender "
                f"(it supplies {sorted(supplied)})"
            )
    warnings = [f"decision text {i}: not used by the recommender" for i in by_id if i not in used]
    return errors, warnings


def _warnings(files: dict[str, FileHeader]) -> list[str]:
    sources = files["sources"]
    statements = files["statements"]
    assert isinstance(sources, SourceFile) and isinstance(statements, StatementFile)
    out: list[str] = []
    cited = {c for s in statements.statements for c in s.citations}
    for src in sources.sources:
        if src.kind == "trial" and not (src.doi or src.pmid):
            out.append(f"source {src.id}: trial without DOI/PMID ({src.note or 'identifier UNCONFIRMED'})")
        if src.kind == "label" and src.approval_date is None and src.id in cited:
            out.append(f"source {src.id}: label cited by statements without an approval date")
    return out


def lint_knowledge(data_dir: Path | None = None) -> list[LintProblem]:
    """Check the knowledge files and return every finding (errors first).

    Parameters
    ----------
    data_dir
        Folder holding the seven knowledge files; ``None`` = the packaged knowledge.

    Returns
    -------
    list of LintProblem
        Empty when clean; ``severity == "error"`` entries make ``oncoline kb lint`` exit 3.
    """
    try:
        files = read_files(data_dir)
    except KnowledgeBaseError as exc:
        return [LintProblem("error", str(exc))]
    from oncoline.engines.recommend.engine import TEXTS_USED  # lazily: the engine imports the knowledge loader
    from oncoline.knowledge.trace import trace_problems

    text_errors, text_warnings = _text_problems(files, TEXTS_USED)
    from oncoline.knowledge.patient_texts import patient_text_problems  # patient texts: entries, sources, grade

    patient_errors, patient_warnings = patient_text_problems(files, data_dir)
    text_errors, text_warnings = text_errors + patient_errors, text_warnings + patient_warnings
    errors = reference_problems(files, load_vocabulary()) + _contradictions(files) + text_errors
    warnings = _warnings(files) + text_warnings
    matrix = None if data_dir is None else data_dir / "reference_trace.yaml"
    if matrix is None or matrix.is_file():
        traced = trace_problems(trace_path=matrix, data_dir=data_dir)
        errors += traced.errors
        warnings += [*traced.warnings, *traced.notes]
    else:
        warnings.append(f"{matrix} absent: the reference traceability matrix was not checked for this folder")
    return [LintProblem("error", m) for m in errors] + [LintProblem("warning", m) for m in warnings]
