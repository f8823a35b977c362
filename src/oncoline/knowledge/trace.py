"""The traceability matrix: every rule of the clinical reference mapped to the knowledge that encodes it and the
test that exercises it (issue 8 item 1), or marked not encoded with the reason.

The matrix is data (``knowledge/data/reference_trace.yaml``, schema :class:`TraceFile`). Rule ids are derived
mechanically from the reference's own structure by :func:`parse_reference`, so they stay stable when the
reference changes and a new edition's new rules show up as missing:

- a table row: ``<section>/<slug of its first cell>`` (``a.2/thp``, ``a.5/during-therapy-or-le6-months``);
- a bullet or a paragraph: ``<section>/<slug of its lead phrase>`` - the text before the first ``:``, ``;``,
  ``.`` or ``→`` when that is at most six words, else its first six words (``b.1/rec-7-1``, ``d.2/known-ild-or-
  significant-lung-disease``);
- a numbered item: ``<section>/rule-<n>`` (``b.3/rule-4``);
- a fenced code block (pseudo-code): ``<section>/algorithm``; a sub-section title holding a rule after `` — ``:
  ``<section>/heading`` (``d.1/heading``: "assess LVEF before any HER2 antibody/ADC/lapatinib").

Slugs are lowercase words joined by ``-``; ``≤ ≥ < >`` become ``le ge lt gt``, a trailing ``+`` / ``−`` on a word
becomes ``plus`` / ``minus`` (``HR+`` → ``hrplus``), parenthesised text and bold marks are dropped, and a repeated
id in one section gets ``-2``, ``-3``. A matrix entry may split one reference rule into parts with ``#part``
(``a.2/who-counts-as-chemo-unsuitable#hr-negative``).

>>> parse_reference_text("## a. X\\n### a.9 Y\\n| A | B |\\n|---|---|\\n| **THP**: p (x) | y |\\n- Rec 1.0: do it\\n")
[ReferenceRule(id='a.9/thp', section='a.9', kind='table_row', text='**THP**: p (x) | y'), \
ReferenceRule(id='a.9/rec-1-0', section='a.9', kind='bullet', text='Rec 1.0: do it')]

References
----------
shared/reference/her2-mbc.md §a-§g (status date 2026-11-29).
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oncoline.errors import KnowledgeBaseError

__all__ = [
    "REFERENCE_ENV",
    "ReasonKind",
    "ReferenceRule",
    "SectionCoverage",
    "TraceEntry",
    "TraceFile",
    "TraceReport",
    "find_reference",
    "load_trace",
    "parse_reference",
    "parse_reference_text",
    "slugify",
    "trace_problems",
    "trace_report",
]

REFERENCE_ENV = "ONCOLINE_REFERENCE"
"""Environment variable naming the reference file (else ``../shared/reference/her2-mbc.md`` beside the repo)."""

SECTIONS = ("a", "b", "c", "d", "e", "f", "g")
"""The reference sections the matrix covers (§0 conventions, §h references and §i open items are not rules)."""

ReasonKind = Literal["gap", "unconfirmed", "out_of_scope", "input_cannot_carry", "context"]
"""Why a rule is not encoded: ``gap`` (the reference says it, oncoline does not do it yet - a strict xfail test
shows it), ``unconfirmed`` (the reference marks it UNCONFIRMED: encode only as "needs review"), ``out_of_scope``
(not a next-line HER2+ MBC decision, e.g. dosing during treatment), ``input_cannot_carry`` (needs a fact the
patient input has no field for), ``context`` (not a rule: an introduction, a pointer to other rules)."""


# ----------------------------------------------------------------------------------------------- schema
class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TraceEntry(_Strict):
    """One reference rule and where oncoline encodes and tests it."""

    id: str = Field(description="Rule id '<section>/<slug>' (optionally '#part'), see the module docstring.")
    quote: str = Field(min_length=3, description="Short quote or paraphrase of the rule.")
    status: Literal["encoded", "not_encoded"]
    knowledge: tuple[str, ...] = Field(
        default=(),
        description="Knowledge ids that encode it: statement, regimen, prerequisite, safety rule, forbidden "
        "combination, adjunct, monitoring, ask, warning, site action, decision text, evidence or source id; "
        "'her2:<key>' (her2_testing.yaml), 'lines:<parameter>' (lines.yaml), 'statements:<parameter>', "
        "'progression:<key>' (safety.yaml progression policy), 'drug:<name or class>' (drugs.yaml).",
    )
    tests: tuple[str, ...] = Field(
        default=(), description="pytest node ids 'tests/…/test_x.py::test_name' that exercise the rule."
    )
    reason_kind: ReasonKind | None = Field(default=None, description="Why not encoded (not_encoded only).")
    reason: str = Field(default="", description="The reason in words; for a gap: what is missing.")

    @model_validator(mode="after")
    def _consistent(self) -> TraceEntry:
        if self.status == "encoded":
            if not self.knowledge:
                raise ValueError(f"{self.id}: an encoded rule names the knowledge ids that encode it")
            if self.reason_kind is not None:
                raise ValueError(f"{self.id}: an encoded rule has no reason_kind")
        else:
            if self.reason_kind is None or not self.reason:
                raise ValueError(f"{self.id}: a not_encoded rule needs reason_kind and reason")
        return self

    @property
    def base(self) -> str:
        """The reference rule id without its ``#part``."""
        return self.id.split("#", 1)[0]


class TraceFile(_Strict):
    """``reference_trace.yaml``: the matrix for one edition of the reference."""

    schema_: str = Field(alias="schema", pattern=r"^oncoline\.kb\.reference_trace/1$")
    version: str
    effective: dt.date
    reference: str = Field(description="The reference file the matrix traces (path relative to the repo).")
    reference_status_date: dt.date = Field(description="'Status date' of the reference edition traced.")
    note: str = ""
    rules: tuple[TraceEntry, ...]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def load_trace(path: Path | None = None) -> TraceFile:
    """Read and validate the traceability matrix.

    Parameters
    ----------
    path
        A ``reference_trace.yaml``; ``None`` = the packaged one.

    Returns
    -------
    TraceFile

    Raises
    ------
    KnowledgeBaseError
        Not YAML, a schema violation (the message names the field), or a rule id given twice.
    """
    where = str(path) if path else "knowledge/data/reference_trace.yaml"
    try:
        if path is None:
            text = resources.files("oncoline.knowledge").joinpath("data/reference_trace.yaml").read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"{where}: cannot read: {exc}") from exc
    try:
        trace = TraceFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise KnowledgeBaseError(f"{where}: field {loc!r}: {first['msg']}") from exc
    dupes = [i for i, n in Counter(r.id for r in trace.rules).items() if n > 1]
    if dupes:
        raise KnowledgeBaseError(f"{where}: rule id(s) given twice: {sorted(dupes)}")
    return trace


# -------------------------------------------------------------------------------------- reference parsing
@dataclass(frozen=True)
class ReferenceRule:
    """One rule found in the reference: a table row, a bullet, a numbered item or a paragraph."""

    id: str
    section: str
    kind: Literal["table_row", "bullet", "numbered", "paragraph", "heading", "code"]
    text: str


_SYMBOLS = {"≤": " le", "≥": " ge", "<": " lt", ">": " gt", "×": " x "}


def slugify(text: str, *, max_words: int = 6) -> str:
    """The id slug of a phrase (see the module docstring).

    >>> slugify("**T-DXd + pertuzumab** (T-DXd 5.4 mg/kg)")
    't-dxd-pertuzumab'
    >>> slugify("HR+: ET + HER2-targeted therapy"), slugify(">6 to ≤12 months"), slugify("3L+")
    ('hrplus-et-her2-targeted-therapy', 'gt6-to-le12-months', '3lplus')
    """
    t = text.replace("**", "").replace("†", "").replace("`", "")
    while True:  # drop (nested) parenthesised text
        stripped = re.sub(r"\([^()]*\)", " ", t)
        if stripped == t:
            break
        t = stripped
    t = re.sub(r"(\w)\+(?=\W|$)", r"\1plus", t)
    t = re.sub(r"(\w)[−–](?=\s|$|[:;,)/])", r"\1minus", t)
    for sym, word in _SYMBOLS.items():
        t = t.replace(sym, word)
    words = re.findall(r"[a-z0-9]+", t.lower())
    return "-".join(words[:max_words])


def _lead(text: str) -> str:
    """The lead phrase of a bullet or paragraph: a bold opening, else the text before its first ``: ; . →``."""
    bold = re.match(r"\s*\*\*([^*]+)\*\*", text)
    if bold and bold.group(1).strip(" :") and (text[bold.end() :].lstrip()[:1] in {":", "", "("} or bold.start() == 0):
        head = bold.group(1)
        if len(slugify(head, max_words=99).split("-")) <= 6:
            return head
    plain = re.sub(r"\([^()]*\)", " ", text.replace("**", ""))
    head = re.split(r":|;|\.(?=\s|$)|→| — ", plain, maxsplit=1)[0]
    if len(slugify(head, max_words=99).split("-")) <= 6:
        return head
    return plain


def _cell_lead(cell: str) -> str:
    """The lead phrase of a table row's first cell: its bold opening, else the text before a ``;``."""
    bold = re.match(r"\s*\*\*([^*]+)\*\*", cell)
    if bold and bold.group(1).strip(" :"):
        return bold.group(1)
    return re.sub(r"\([^()]*\)", " ", cell).split(";", 1)[0]


def parse_reference_text(text: str) -> list[ReferenceRule]:
    """Every rule of §a-§g of a reference text, in order (see the module docstring for the ids)."""
    rules: list[ReferenceRule] = []
    seen: Counter[str] = Counter()
    section: str | None = None
    in_code = False
    para: list[str] = []
    item: tuple[str, list[str]] | None = None  # (kind, lines) of the bullet/numbered item being read
    code: list[str] = []

    def add(
        kind: Literal["table_row", "bullet", "numbered", "paragraph", "heading", "code"], slug: str, body: str
    ) -> None:
        if section is None or not slug:
            return
        base = f"{section}/{slug}"
        seen[base] += 1
        rid = base if seen[base] == 1 else f"{base}-{seen[base]}"
        rules.append(ReferenceRule(rid, section, kind, " ".join(body.split())))

    def flush() -> None:
        nonlocal item, para
        if item is not None:
            kind, lines = item
            body = " ".join(lines)
            if kind == "bullet":
                add("bullet", slugify(_lead(body)), body)
            else:
                number, _, rest = body.partition(". ")
                add("numbered", f"rule-{number.strip()}", rest)
            item = None
        if para:
            body = " ".join(para)
            add("paragraph", slugify(_lead(body)), body)
            para = []

    all_lines = text.splitlines()
    for index, raw_line in enumerate(all_lines):
        line = raw_line.rstrip()
        if line.startswith("```"):
            flush()
            in_code = not in_code
            if in_code:
                code = []
            else:
                add("code", "algorithm", " ".join(code))
            continue
        if in_code:
            code.append(line.strip())
            continue
        heading = re.match(r"^(#{2,3})\s+(\S+)", line)
        if heading:
            flush()
            label = heading.group(2).rstrip(".")
            top = label.split(".")[0]
            if heading.group(1) == "##":
                section = top if top in SECTIONS else None
            elif section is not None or top in SECTIONS:
                section = label if top in SECTIONS else None
                title = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
                if " — " in title:
                    add("heading", "heading", title)
            continue
        if not line.strip() or set(line.strip()) <= {"-"}:
            flush()
            continue
        if line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if _is_separator(line):
                continue
            if _is_separator(all_lines[index + 1] if index + 1 < len(all_lines) else ""):
                continue
            add("table_row", slugify(_cell_lead(cells[0])), " | ".join(cells))
            continue
        bullet = re.match(r"^- (.*)", line)
        numbered = re.match(r"^(\d+)\.\s+(.*)", line)
        if bullet is not None:
            flush()
            item = ("bullet", [bullet.group(1)])
            continue
        if numbered is not None:
            flush()
            item = ("numbered", [f"{numbered.group(1)}. {numbered.group(2)}"])
            continue
        if item is not None and raw_line.startswith((" ", "\t")):
            item[1].append(line.strip())
            continue
        if item is not None:
            flush()
        para.append(line.strip())
    flush()
    return rules


def _is_separator(line: str) -> bool:
    """True for a markdown table's ``|---|---|`` line."""
    cells = line.strip().strip("|").split("|")
    return line.strip().startswith("|") and all(re.fullmatch(r"\s*:?-{3,}:?\s*", c) for c in cells)


def find_reference(explicit: Path | None = None) -> Path | None:
    """The reference file: ``explicit``, else ``$ONCOLINE_REFERENCE``, else ``../shared/reference/her2-mbc.md``
    beside the repository of this checkout; ``None`` when none exists (e.g. a pip install)."""
    if explicit is not None:
        return explicit
    env = os.environ.get(REFERENCE_ENV)
    if env:
        return Path(env)
    candidate = _repo_root().parent / "shared" / "reference" / "her2-mbc.md"
    return candidate if candidate.is_file() else None


def parse_reference(path: Path) -> list[ReferenceRule]:
    """Every rule of §a-§g of the reference file at ``path``.

    Raises
    ------
    KnowledgeBaseError
        The file cannot be read.
    """
    try:
        return parse_reference_text(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeBaseError(
            f"{path}: cannot read the reference ({exc}); give --reference or {REFERENCE_ENV}"
        ) from exc


def reference_status_date(path: Path) -> dt.date | None:
    """The ``Status date: **YYYY-MM-DD**`` of the reference file, if it states one."""
    m = re.search(r"Status date:\s*\**(\d{4}-\d{2}-\d{2})", path.read_text(encoding="utf-8"))
    return dt.date.fromisoformat(m.group(1)) if m else None


# ------------------------------------------------------------------------------------------------ checks
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def _knowledge_ids(data_dir: Path | None) -> set[str]:
    """Every id a matrix entry may name (see :attr:`TraceEntry.knowledge`)."""
    from oncoline.knowledge.drugs import load_vocabulary
    from oncoline.knowledge.loader import read_files, typed_files
    from oncoline.knowledge.schema import DecisionTextFile

    files = read_files(data_dir)
    sources, evidence, regimens, statements, safety, actions = typed_files(files)
    ids: set[str] = {s.id for s in sources.sources} | {e.id for e in evidence.evidence}
    for reg in regimens.regimens:
        ids.add(reg.id)
        ids.update(p.id for p in reg.prerequisites)
    ids.update(s.id for s in statements.statements)
    ids.update(f"statements:{k}" for k in statements.parameters.model_dump())
    for group in (safety.rules, safety.forbidden_combinations, safety.adjuncts, safety.monitoring):
        ids.update(r.id for r in group)
    ids.update(r.id for r in safety.asks)
    ids.update(r.id for r in safety.warnings)
    ids.update(f"progression:{k}" for k in safety.progression.model_dump())
    ids.update(a.id for a in actions.actions)
    texts = files["decision_texts"]
    assert isinstance(texts, DecisionTextFile)
    ids.update(t.id for t in texts.texts)
    pkg = resources.files("oncoline.knowledge").joinpath("data")
    her2 = yaml.safe_load(pkg.joinpath("her2_testing.yaml").read_text("utf-8"))
    ids.update(f"her2:{k}" for k in her2)
    for k, v in her2.items():
        if isinstance(v, dict):
            ids.update(f"her2:{k}.{sub}" for sub in v)
    lines = yaml.safe_load(pkg.joinpath("lines.yaml").read_text("utf-8"))
    ids.update(f"lines:{k}" for k in lines.get("parameters", {}))
    ids.update(f"lines:{k}" for k in lines if k not in {"parameters", "sources", "version", "effective"})
    vocab = load_vocabulary()
    ids.update(f"drug:{c}" for c in vocab.classes)
    ids.update(f"drug:{d.name}" for d in vocab.drugs)
    return ids


def _is_xfail(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the function carries ``@pytest.mark.xfail`` (with or without arguments)."""
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute) and target.attr == "xfail":
            return True
    return False


def _test_functions(root: Path) -> dict[str, bool]:
    """Every test function under ``root`` as 'tests/…/test_x.py::name' (class methods 'path::Class::name') →
    whether it is marked xfail. Parsed, not imported: no test runs."""
    out: dict[str, bool] = {}
    for path in sorted(root.rglob("test*.py")):
        rel = path.relative_to(root.parent).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                out[f"{rel}::{node.name}"] = _is_xfail(node)
            elif isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and sub.name.startswith("test"):
                        out[f"{rel}::{node.name}::{sub.name}"] = _is_xfail(sub)
    return out


@dataclass(frozen=True)
class TraceCheck:
    """What :func:`trace_problems` found, and what it could check."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def trace_problems(
    *,
    trace_path: Path | None = None,
    reference: Path | None = None,
    data_dir: Path | None = None,
    tests_root: Path | None = None,
) -> TraceCheck:
    """Check the matrix against the reference, the knowledge files and the tests (the ``kb lint`` part).

    Errors: a reference rule of §a-§g with no matrix entry; a matrix entry naming a knowledge id that does not
    exist; an encoded rule without a test, naming a test function that does not exist, or naming only xfail
    tests. Warnings: an entry whose rule is not in the reference (stale after a new edition); a different
    reference status date; a gap without a test, or whose tests are no longer marked xfail (fixed: flip it).

    Parameters
    ----------
    trace_path
        The matrix file; ``None`` = the packaged one.
    reference
        The reference markdown; ``None`` = :func:`find_reference`. When none is found the reference checks are
        skipped and a note says so; a file named explicitly (or by ``$ONCOLINE_REFERENCE``) that does not exist
        is an error.
    data_dir
        Knowledge files to resolve ids against; ``None`` = the packaged knowledge.
    tests_root
        The ``tests`` folder; ``None`` = ``tests`` of this checkout (skipped, with a note, when absent).

    Returns
    -------
    TraceCheck
    """
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    try:
        trace = load_trace(trace_path)
    except KnowledgeBaseError as exc:
        return TraceCheck((str(exc),), (), ())
    ref = find_reference(reference)
    asked = reference is not None or bool(os.environ.get(REFERENCE_ENV))
    if asked and ref is not None and not ref.is_file():
        errors.append(f"reference_trace: the reference {ref} does not exist (from --reference or {REFERENCE_ENV})")
    elif ref is None or not ref.is_file():
        notes.append(
            "reference_trace: reference file not found (pip install?) - checked only the matrix's internal "
            f"consistency; give --reference or {REFERENCE_ENV} to check it against the reference"
        )
    else:
        parsed = parse_reference(ref)
        have = {r.base for r in trace.rules}
        for rule in parsed:
            if rule.id not in have:
                errors.append(
                    f"reference_trace: rule {rule.id} of the reference ({rule.kind}: {rule.text[:90]!r}) has no "
                    "entry - add it as encoded (knowledge ids + a test) or not_encoded with a reason"
                )
        known = {r.id for r in parsed}
        for entry in trace.rules:
            if entry.base not in known:
                warnings.append(f"reference_trace: {entry.id} is not a rule of {ref.name} (stale after a new edition?)")
        status = reference_status_date(ref)
        if status is not None and status != trace.reference_status_date:
            warnings.append(
                f"reference_trace: traces the reference of {trace.reference_status_date}, the file says {status}"
            )
    try:
        known_ids = _knowledge_ids(data_dir)
    except KnowledgeBaseError as exc:
        errors.append(f"reference_trace: cannot resolve knowledge ids: {exc}")
        known_ids = None
    if known_ids is not None:
        for entry in trace.rules:
            bad = [k for k in entry.knowledge if k not in known_ids]
            if bad:
                errors.append(f"reference_trace: {entry.id} names knowledge id(s) that do not exist: {bad}")
    root = tests_root or (_repo_root() / "tests")
    tests: dict[str, bool] | None = None
    if not root.is_dir():
        notes.append("reference_trace: no tests folder here - test node ids not checked")
    else:
        tests = _test_functions(root)
    for entry in trace.rules:
        if entry.status == "encoded" and not entry.tests:
            errors.append(f"reference_trace: {entry.id} is encoded but names no test")
        if entry.reason_kind == "gap" and not entry.tests:
            warnings.append(f"reference_trace: gap {entry.id} names no (xfail) test that would flip when it is fixed")
        if tests is None:
            continue
        found = [t.split("[", 1)[0] for t in entry.tests]
        for node in found:
            if node not in tests:
                errors.append(f"reference_trace: {entry.id} names test {node!r}, which does not exist")
        if entry.reason_kind == "gap" and found and all(n in tests and not tests[n] for n in found):
            warnings.append(
                f"reference_trace: gap {entry.id}: none of its tests is marked xfail any more - if the fix landed, "
                "mark the rule encoded with the knowledge ids of the fix"
            )
        if entry.status == "encoded" and found and all(tests.get(n, False) for n in found):
            errors.append(
                f"reference_trace: {entry.id} is encoded but every test it names is marked xfail - name a passing "
                "test, or mark the rule not_encoded (gap)"
            )
    return TraceCheck(tuple(errors), tuple(warnings), tuple(notes))


# ------------------------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class SectionCoverage:
    """Counts for one reference section (``a.2``, ``e`` …)."""

    section: str
    rules: int
    encoded: int
    with_test: int
    not_encoded: int
    by_reason: dict[str, int]


@dataclass(frozen=True)
class TraceReport:
    """``oncoline kb trace``: coverage per section and every rule not encoded."""

    reference: str
    reference_status_date: dt.date
    sections: tuple[SectionCoverage, ...]
    not_encoded: tuple[TraceEntry, ...]
    total: SectionCoverage

    def to_json(self) -> dict[str, object]:
        """Plain types for ``--json``."""

        def cov(c: SectionCoverage) -> dict[str, object]:
            return {
                "section": c.section,
                "rules": c.rules,
                "encoded": c.encoded,
                "with_test": c.with_test,
                "not_encoded": c.not_encoded,
                "not_encoded_by_reason": c.by_reason,
            }

        return {
            "reference": self.reference,
            "reference_status_date": self.reference_status_date.isoformat(),
            "total": cov(self.total),
            "sections": [cov(c) for c in self.sections],
            "not_encoded": [
                {"id": e.id, "reason_kind": e.reason_kind, "reason": e.reason, "quote": e.quote, "tests": list(e.tests)}
                for e in self.not_encoded
            ],
        }


def _section_of(rule_id: str) -> str:
    return rule_id.split("/", 1)[0]


def _coverage(section: str, entries: list[TraceEntry]) -> SectionCoverage:
    reasons = Counter(str(e.reason_kind) for e in entries if e.status == "not_encoded")
    return SectionCoverage(
        section=section,
        rules=len(entries),
        encoded=sum(e.status == "encoded" for e in entries),
        with_test=sum(e.status == "encoded" and bool(e.tests) for e in entries),
        not_encoded=sum(e.status == "not_encoded" for e in entries),
        by_reason=dict(sorted(reasons.items())),
    )


def trace_report(trace: TraceFile | None = None) -> TraceReport:
    """Coverage per section (encoded / with a test / not encoded by reason) and the rules not encoded.

    Parameters
    ----------
    trace
        The matrix; ``None`` = the packaged one.

    Raises
    ------
    KnowledgeBaseError
        The packaged matrix cannot be read.
    """
    trace = trace or load_trace()

    def key(section: str) -> tuple[str, int]:
        head, _, sub = section.partition(".")
        return head, int(sub) if sub.isdigit() else 0

    by_section: dict[str, list[TraceEntry]] = {}
    for e in trace.rules:
        by_section.setdefault(_section_of(e.id), []).append(e)
    sections = tuple(_coverage(s, by_section[s]) for s in sorted(by_section, key=key))
    return TraceReport(
        reference=trace.reference,
        reference_status_date=trace.reference_status_date,
        sections=sections,
        not_encoded=tuple(e for e in trace.rules if e.status == "not_encoded"),
        total=_coverage("all", list(trace.rules)),
    )
