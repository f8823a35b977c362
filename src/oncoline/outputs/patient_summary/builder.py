"""Build the patient summary from a recommendation and the plain-language texts (pure: no I/O, no clock).

The summary shows exactly the options of the clinician view (same regimens, drugs and order; nothing withheld
is offered), every missing critical fact first, and on every page that it is for discussion with the care team.
Every sentence comes from ``knowledge/data/patient_texts``: an entry without a text in effect on the decision date
gets the generic "ask your care team about this" sentence and is listed in ``gaps`` (never left out).
"""

from __future__ import annotations

from collections.abc import Iterable

from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.patient_texts import STOP_REASONS, ExplainsKind, PatientText, PatientTexts, TextPart
from oncoline.model.recommendation import Category, Option, Recommendation
from oncoline.outputs.patient_summary.model import Item, Line, PatientSummary, Section, SectionId, SummaryOption

__all__ = ["ACTION_SECTIONS", "build_patient_summary"]

ACTION_SECTIONS: dict[str, str] = {
    "brain_local_therapy": "sites",
    "bone_modifying_agent": "sites",
    "defer_bone_modifying_agent": "sites",
    "palliative_radiotherapy": "sites",
    "liver_local_therapy": "sites",
    "pruritus_management": "sites",
    "palliative_surgery": "breast",
    "cardiac_monitoring": "watch",
    "ild_monitoring": "watch",
    "clinical_trial": "trial",
}
"""Action code → summary section; any other code (biopsy, discordance, MDT, supportive care, new codes) → 'other'."""

_CATEGORY_ORDER = ("preferred", "other", "certain_circumstances")


class _Writer:
    """Picks texts for the decision date and records fallbacks and gaps."""

    def __init__(self, texts: PatientTexts, recommendation: Recommendation) -> None:
        self.texts = texts
        self.as_of = recommendation.as_of
        self.fallback = False
        self.gaps: list[str] = []

    def _line(self, text: PatientText, **values: object) -> Line:
        fallback = self.texts.is_fallback(text)
        self.fallback = self.fallback or fallback
        body = text.text.format(**values) if values else text.text
        return Line(text=body, text_id=text.id, fallback=fallback)

    def find(self, kind: ExplainsKind, entry: str, part: TextPart) -> Line | None:
        text = self.texts.pick(kind, entry, part, as_of=self.as_of)
        return self._line(text) if text is not None else None

    def need(self, kind: ExplainsKind, entry: str, part: TextPart) -> Line:
        """The text, or the generic 'ask your care team' sentence (recorded as a gap)."""
        hit = self.find(kind, entry, part)
        if hit is not None:
            return hit
        self.gaps.append(f"{kind}:{entry}:{part}")
        return self.frame("no_text")

    def frame(self, entry: str, **values: object) -> Line:
        text = self.texts.pick("summary", entry, "frame", as_of=self.as_of)
        if text is None:
            raise KnowledgeBaseError(f"patient_texts: no frame text {entry!r} in effect on {self.as_of}")
        return self._line(text, **values)

    def all_of(self, part: TextPart) -> tuple[PatientText, ...]:
        return self.texts.all_of(part, as_of=self.as_of)


def _drugs(drugs: Iterable[str]) -> str:
    return " + ".join(drugs)


_SILENT_FLAGS = ("divergence:", "a secondary", "UNCONFIRMED")
"""Flag prefixes the summary explains elsewhere (the statement's own text; the option's status line)."""


def _flag_statuses(flags: Iterable[str]) -> list[str]:
    """``option_status`` ids for the review flags of an option, in order, once each (``""`` = a flag not named)."""
    out: list[str] = []
    for flag in flags:
        low = flag.lower()
        if flag.startswith(_SILENT_FLAGS):
            continue
        if low.startswith("off-label") or (low.startswith("note:") and "off-label" in low):
            status = "off_label"
        elif low.startswith("note:"):
            continue  # a label detail for the prescriber; nothing for the patient to act on
        elif low.startswith("caution:"):
            status = "caution"
        else:
            status = ""
        if status not in out:
            out.append(status)
    return out


def _standing(option: Option, has_first_choice: bool, w: _Writer) -> Line:
    """What the guides say about ``option``, as the clinician view shows it: no guideline → its own text, an
    UNCONFIRMED flag → its own text, 'other' beside no first choice → without "too"; else the category text."""
    if option.guideline_status:
        return w.need("option_status", "no_guideline", "why")
    if any(f.startswith("UNCONFIRMED") for f in option.flags):
        return w.need("option_status", "unconfirmed", "why")
    if option.category is Category.OTHER and not has_first_choice:
        return w.need("option_status", "other_alone", "why")
    return w.need("category", option.category.value, "why")


def _options(rec: Recommendation, w: _Writer, kb: KnowledgeBase) -> Section:
    adjuncts = [t for t in w.all_of("adjunct") if t.explains.kind == "drug_class"]
    has_first_choice = any(o.category is Category.PREFERRED for o in rec.options)
    items: list[Item] = []
    for n, option in enumerate(rec.options, start=1):
        lines = [_standing(option, has_first_choice, w)]
        lines.append(w.need("regimen", option.regimen, "what"))
        for adj in adjuncts:
            if any(kb.in_class(d, adj.explains.id) for d in option.drugs):
                lines.append(w._line(adj))
        lines.append(w.need("regimen", option.regimen, "how"))
        why = w.find("statement", option.statement, "why")
        if why is not None:
            lines.append(why)
        for status in _flag_statuses(option.flags):
            if status:
                lines.append(w.need("option_status", status, "why"))
            else:
                lines.append(w.need("recommendation_field", "options.flags", "why"))
        items.append(Item(title=w.frame("option_label", n=n), label=_drugs(option.drugs), lines=tuple(lines)))
    intro = (w.frame("options_intro"),) if rec.options else (w.frame("no_options"),)
    return Section(id="options", heading=w.frame("heading_options"), intro=intro, items=tuple(items))


def _dedupe(items: Iterable[Item]) -> tuple[Item, ...]:
    seen: set[tuple[str | None, tuple[str, ...]]] = set()
    out: list[Item] = []
    for item in items:
        key = (item.label, tuple(line.text_id for line in item.lines))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def build_patient_summary(
    recommendation: Recommendation,
    /,
    *,
    texts: PatientTexts,
    knowledge: KnowledgeBase,
    last_stop: str | None = None,
) -> PatientSummary:
    """The plain-language summary of ``recommendation``.

    Parameters
    ----------
    recommendation
        What :func:`oncoline.recommend` returned (the clinician view's content).
    texts
        Plain-language texts of the wanted language (:func:`oncoline.knowledge.patient_texts.load_patient_texts`);
        the latest text in effect on the decision date is used.
    knowledge
        The knowledge base the recommendation came from (drug classes for added drugs such as ovarian suppression).
    last_stop
        Why the latest metastatic line stopped (``progression``, ``toxicity``, ``completed``; ``None`` or anything
        else = not recorded): told in the aim section of a second or later line, never assumed.

    Returns
    -------
    PatientSummary
        Sections headed by questions, in order: missing facts (when any), aim, options, why one over another,
        what to watch for, care where the cancer spread, the breast tumour, other care, drugs not on the list,
        trials, questions, glossary; empty sections are left out (options, trials, questions and glossary never).

    Raises
    ------
    KnowledgeBaseError
        The texts are of another knowledge version than the recommendation, or a frame text is missing.
    """
    rec = recommendation
    if texts.version != rec.kb_version:
        raise KnowledgeBaseError(
            f"patient texts are version {texts.version} but the recommendation used knowledge {rec.kb_version}"
        )
    w = _Writer(texts, rec)
    sections: list[Section] = []

    if rec.missing:
        items = tuple(Item(lines=(w.need("missing", m.code, "missing"),)) for m in rec.missing)
        sections.append(
            Section(id="missing", heading=w.frame("heading_missing"), intro=(w.frame("missing_intro"),), items=items)
        )

    aim = [w.need("recommendation_field", "algorithm", "why")]
    her2_options = any(knowledge.in_class(d, "her2_directed") for o in rec.options for d in o.drugs)
    if her2_options:
        aim.append(w.frame("aim_her2_first"))
    if rec.algorithm.value in ("second_line", "later_line"):
        aim.append(w.need("stop_reason", last_stop if last_stop in STOP_REASONS else "unknown", "why"))
    if her2_options:
        aim.append(w.need("algorithm", rec.algorithm.value, "why"))
    else:  # HER2 unknown or borderline, or no HER2 drug fits (pregnancy, …): the usual HER2-first story is not hers
        aim.append(w.frame("aim_no_her2"))
    sections.append(Section(id="aim", heading=w.frame("heading_aim"), intro=tuple(aim)))
    sections.append(_options(rec, w, knowledge))
    if len(rec.options) > 1:
        why = (w.need("recommendation_field", "options", "why"),)
        sections.append(Section(id="why", heading=w.frame("heading_why"), intro=why))

    by_section: dict[str, list[Item]] = {"watch": [], "sites": [], "breast": [], "other": [], "trial": []}
    topics: set[str] = set()

    def watch(kind: ExplainsKind, rule: str) -> None:
        # each text names what it is about (the drugs, the heart), so no drug label: a "+"-joined label read like a
        # regimen; advice on one topic (the heart scan) is given once
        text = w.texts.pick(kind, rule, "watch", as_of=w.as_of)
        if text is not None and text.topic is not None:
            if text.topic in topics:
                return
            topics.add(text.topic)
        by_section["watch"].append(Item(lines=(w.need(kind, rule, "watch"),)))

    for mon in rec.monitoring:
        watch("monitoring", mon.rule)
    for action in rec.actions:
        where = ACTION_SECTIONS.get(action.code, "other")
        if where == "watch" and w.find("action", action.rule, "watch") is not None:
            watch("action", action.rule)
            continue
        part: TextPart = "watch" if where == "watch" else "care"
        found = w.find("action", action.rule, part) or w.find("action", action.rule, "care")
        by_section[where].append(Item(lines=(found or w.need("action", action.rule, part),)))
    if by_section["watch"]:
        sections.append(
            Section(
                id="watch",
                heading=w.frame("heading_watch"),
                intro=(w.frame("watch_intro"),),
                items=_dedupe(by_section["watch"]),
            )
        )
    place: tuple[tuple[SectionId, str], ...] = (
        ("sites", "heading_sites"),
        ("breast", "heading_breast"),
        ("other", "heading_other"),
    )
    for sid, heading in place:
        if by_section[sid]:
            sections.append(Section(id=sid, heading=w.frame(heading), items=_dedupe(by_section[sid])))

    if rec.excluded:
        groups: dict[str, list[str]] = {}
        for ex in rec.excluded:
            groups.setdefault(ex.reason_code, []).append(_drugs(ex.drugs))
        items = tuple(
            Item(lines=(w.need("reason_code", code, "excluded"),), names=tuple(dict.fromkeys(names)))
            for code, names in groups.items()
        )
        sections.append(
            Section(id="excluded", heading=w.frame("heading_excluded"), intro=(w.frame("excluded_intro"),), items=items)
        )

    sections.append(Section(id="trial", heading=w.frame("heading_trial"), items=_dedupe(by_section["trial"])))
    questions = tuple(Item(lines=(w._line(q),)) for q in w.all_of("question"))
    sections.append(Section(id="questions", heading=w.frame("heading_questions"), items=questions))
    shown = " ".join(
        line.text for sec in sections for line in (*sec.intro, *(ln for item in sec.items for ln in item.lines))
    ).lower()
    glossary = tuple(  # only the words the summary uses
        Item(title=Line(text=g.term or "", text_id=g.id, fallback=texts.is_fallback(g)), lines=(w._line(g),))
        for g in w.all_of("glossary")
        if g.term and g.term.lower() in shown
    )
    sections.append(Section(id="glossary", heading=w.frame("heading_glossary"), items=glossary))

    title = w.frame("title")
    discuss = w.frame("discuss")
    made = w.frame("made", date=f"{rec.as_of.day} {rec.as_of:%B %Y}", version=rec.kb_version)
    note = w.frame("fallback", language=texts.language) if w.fallback else None
    return PatientSummary(
        language=texts.language,
        as_of=rec.as_of,
        kb_version=rec.kb_version,
        title=title,
        discuss=discuss,
        made=made,
        fallback_note=note,
        sections=tuple(sections),
        options=tuple(SummaryOption(regimen=o.regimen, drugs=o.drugs, category=o.category.value) for o in rec.options),
        missing=tuple(m.code for m in rec.missing),
        gaps=tuple(w.gaps),
    )
