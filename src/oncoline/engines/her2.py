"""HER2 status from IHC and ISH results per ASCO/CAP 2018 (affirmed 2023).

The thresholds and group outcomes are knowledge data (``knowledge/data/her2_testing.yaml``); this module is the
decision procedure of shared/reference/her2-mbc.md §g.4. It never infers a missing result: no result gives
``status="missing"`` and asks for the test.

Examples
--------
>>> from oncoline.model import Her2Raw
>>> classify_her2(Her2Raw(ihc="3+")).category
'HER2-positive'
>>> r = classify_her2(Her2Raw(ihc="2+", ish_ratio=1.8, her2_copies=6.4))
>>> (r.status, r.ish_group, r.category)
('positive', 3, 'HER2-positive')
>>> classify_her2(Her2Raw(ihc="2+")).next_test
'reflex_ish'

References
----------
Wolff AC et al. J Clin Oncol 2018;36(20):2105-2122 (ASCOCAP-2018); Wolff AC et al. J Clin Oncol
2023;41:3867-3872, doi:10.1200/JCO.22.02864 (ASCOCAP-2023).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from oncoline.model.patient import Her2Raw, IhcScore

__all__ = ["Her2Classification", "Her2Rules", "classify_her2", "ish_group", "load_her2_rules"]

Status = Literal["positive", "negative", "equivocal", "missing"]
Category = Literal["HER2-positive", "HER2-low", "HER2-ultralow", "HER2-0", "HER2-negative", "equivocal", "missing"]


class Her2Rules(BaseModel):
    """Thresholds and outcomes of the ASCO/CAP decision table (see ``her2_testing.yaml``)."""

    model_config = ConfigDict(frozen=True)

    version: str
    ratio_threshold: float
    copies_low: float
    copies_high: float
    ihc2_confirmed_call: dict[int, Literal["positive", "negative"]]
    comments: dict[int, str]
    single_copies_low: float
    single_copies_high: float
    categories: dict[str, Category]
    sources: tuple[str, ...]


class Her2Classification(BaseModel):
    """The HER2 call for one specimen.

    ``next_test`` is a code the recommender turns into a ``missing`` item: ``her2_status`` (no result),
    ``reflex_ish`` (IHC 2+ without ISH), ``concurrent_ihc`` (ISH group 2–4 without IHC), ``ish_copies``
    (ratio without copy number), ``dual_probe_ish`` (single-probe 4–6 copies with IHC 2+), ``adjudicate``
    (recount disagreed), ``her2_ihc_score`` (negative without an IHC score: HER2-low/ultralow unknown).
    """

    model_config = ConfigDict(frozen=True)

    status: Status
    category: Category
    ish_group: int | None = Field(default=None, description="Dual-probe ISH group 1-5.")
    next_test: str | None = None
    rule: str = Field(description="The decision-table rule that fired.")
    comment: str = ""
    citations: tuple[str, ...] = ()

    @property
    def her2_positive(self) -> bool:
        """True only for a positive call."""
        return self.status == "positive"


@cache
def load_her2_rules() -> Her2Rules:
    """The packaged ASCO/CAP decision table."""
    text = resources.files("oncoline.knowledge").joinpath("data/her2_testing.yaml").read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # safe; C parser if present
    dual, single = raw["dual_probe"], raw["single_probe"]
    return Her2Rules(
        version=str(raw["version"]),
        ratio_threshold=dual["ratio_threshold"],
        copies_low=dual["copies_low"],
        copies_high=dual["copies_high"],
        ihc2_confirmed_call=dual["ihc2_confirmed_call"],
        comments=dual.get("comments") or {},
        single_copies_low=single["copies_low"],
        single_copies_high=single["copies_high"],
        categories=raw["categories"],
        sources=tuple(raw["sources"]),
    )


def ish_group(ratio: float, copies: float, /, *, rules: Her2Rules | None = None) -> int:
    """Dual-probe ISH group 1–5 from the HER2/CEP17 ratio and the average HER2 copies per cell.

    >>> ish_group(2.0, 4.0), ish_group(2.0, 3.9), ish_group(1.9, 6.0), ish_group(1.9, 4.0), ish_group(1.9, 3.9)
    (1, 2, 3, 4, 5)
    """
    r = rules or load_her2_rules()
    if ratio >= r.ratio_threshold:
        return 1 if copies >= r.copies_low else 2
    if copies >= r.copies_high:
        return 3
    return 4 if copies >= r.copies_low else 5


def _group_call(group: int, ihc: IhcScore | None, r: Her2Rules) -> str | None:
    """The final call of dual-probe ISH ``group`` with concurrent ``ihc`` (recount taken as confirmed), or
    None when IHC is needed and missing."""
    if group == 1 or ihc == IhcScore.THREE:
        return "positive"
    if group == 5:
        return "negative"
    if ihc is None:
        return None
    return r.ihc2_confirmed_call[group] if ihc == IhcScore.TWO else "negative"


def classify_her2(raw: Her2Raw, /, *, rules: Her2Rules | None = None) -> Her2Classification:
    """Classify raw HER2 results per the ASCO/CAP 2018 algorithm (reference §g.4).

    Parameters
    ----------
    raw
        IHC score, dual-probe ratio and copies per cell, single-probe copies (``single_probe=True``), a
        qualitative ISH call, or only a lab's final ``status`` (used only when no raw value is given).
    rules
        The decision table; the packaged ASCO/CAP table by default.

    Returns
    -------
    Her2Classification
        ``status`` positive | negative | equivocal | missing, ``category``, ``ish_group`` (dual probe only),
        ``next_test`` when a further test is needed, the ``rule`` that fired and its ``citations``.
    """
    r = rules or load_her2_rules()
    cite = r.sources
    ihc = raw.ihc

    def negative(rule: str, comment: str = "") -> Her2Classification:
        category: Category = r.categories.get(ihc.value, "HER2-negative") if ihc else "HER2-negative"
        return Her2Classification(
            status="negative",
            category=category,
            ish_group=group,
            rule=rule,
            comment=comment,
            citations=cite,
            next_test=None if ihc else "her2_ihc_score",
        )

    def positive(rule: str, comment: str = "") -> Her2Classification:
        return Her2Classification(
            status="positive",
            category="HER2-positive",
            ish_group=group,
            rule=rule,
            comment=comment,
            citations=cite,
        )

    def equivocal(rule: str, next_test: str, comment: str = "") -> Her2Classification:
        return Her2Classification(
            status="equivocal",
            category="equivocal",
            ish_group=group,
            rule=rule,
            next_test=next_test,
            comment=comment,
            citations=cite,
        )

    group: int | None = None
    dual = raw.ish_ratio is not None and raw.her2_copies is not None and not raw.single_probe
    if dual:
        assert raw.ish_ratio is not None and raw.her2_copies is not None
        group = ish_group(raw.ish_ratio, raw.her2_copies, rules=r)

    if raw.empty:
        return Her2Classification(
            status="missing",
            category="missing",
            rule="no HER2 result",
            next_test="her2_status",
            comment="No HER2 result recorded: order HER2 testing (IHC, reflex ISH if 2+); do not infer.",
            citations=cite,
        )
    if ihc == IhcScore.THREE:
        return positive("IHC 3+")
    if dual:
        assert group is not None
        comment = r.comments.get(group, "")
        if group == 1:
            return positive("ISH group 1 (ratio >= 2.0, >= 4.0 copies)")
        if group == 5:
            return negative("ISH group 5 (ratio < 2.0, < 4.0 copies)")
        if ihc is None:
            return equivocal(f"ISH group {group} without concurrent IHC", "concurrent_ihc", comment)
        if ihc == IhcScore.TWO:
            if raw.recount_confirmed is False:
                return equivocal(f"ISH group {group}, IHC 2+, recount disagreed", "adjudicate", comment)
            call = r.ihc2_confirmed_call[group]
            if raw.recount_confirmed:
                rule = f"ISH group {group} with IHC 2+ (blinded recount confirmed the group)"
            else:
                rule = f"ISH group {group} with IHC 2+ (reported counts taken as the final result)"
                comment = (
                    f"{comment} ASCO/CAP 2018 asks for a blinded recount by an additional observer (>=20 cells in "
                    "IHC 2+ areas) before this call; no recount was reported, so the reported counts are taken as "
                    "final — confirm with the laboratory (give recount_confirmed)."
                ).strip()
            return positive(rule, comment) if call == "positive" else negative(rule, comment)
        return negative(f"ISH group {group} with IHC {ihc.value}", comment)
    if (raw.ish_ratio is None) != (raw.her2_copies is None) and not raw.single_probe:
        # Dual-probe ISH with one of its two numbers missing: decide only when every group the known number
        # allows gives the same call with this IHC; otherwise ask for the missing number (never guess).
        if raw.ish_ratio is not None:
            possible = {1, 2} if raw.ish_ratio >= r.ratio_threshold else {3, 4, 5}
            missing_number = "ish_copies"
        else:
            assert raw.her2_copies is not None
            c = raw.her2_copies
            possible = {2, 5} if c < r.copies_low else ({1, 3} if c >= r.copies_high else {1, 4})
            missing_number = "ish_ratio"
        calls = {_group_call(g, ihc, r) for g in possible}
        if len(calls) == 1 and None not in calls:
            rule = (
                f"IHC {ihc.value if ihc else 'not done'}; every ISH group the reported number allows "
                f"({', '.join(map(str, sorted(possible)))}) gives the same call"
            )
            return positive(rule) if calls == {"positive"} else negative(rule)
        return equivocal("dual-probe ISH reported with only one of ratio and copy number", missing_number)
    if raw.single_probe and raw.her2_copies is not None:  # single-probe ISH (reference §g.3)
        copies = raw.her2_copies
        if copies >= r.single_copies_high:
            return positive("single-probe ISH >= 6.0 copies")
        if copies < r.single_copies_low:
            return negative("single-probe ISH < 4.0 copies")
        if ihc == IhcScore.TWO:
            return equivocal("single-probe ISH 4.0-6.0 copies with IHC 2+", "dual_probe_ish")
        if ihc is None:
            return equivocal("single-probe ISH 4.0-6.0 copies without IHC", "concurrent_ihc")
        return negative(f"single-probe ISH 4.0-6.0 copies with IHC {ihc.value}")
    if raw.ish_result is not None:
        if raw.ish_result == "positive":
            return positive("qualitative ISH positive")
        if raw.ish_result == "negative":
            if ihc is None:
                return negative("qualitative ISH negative")
            return negative(f"IHC {ihc.value}, qualitative ISH negative")
        return equivocal("qualitative ISH equivocal", "dual_probe_ish")
    if ihc == IhcScore.TWO:
        return equivocal("IHC 2+ without ISH", "reflex_ish", "Reflex ISH on the same specimen (or a new test).")
    if ihc is not None:
        return negative(f"IHC {ihc.value}")
    # only a lab's final call
    if raw.status == "positive":
        return positive("laboratory final call: positive (no raw values given)")
    if raw.status == "negative":
        return negative(
            "laboratory final call: negative (no raw values given)",
            "IHC score not given: HER2-low / ultralow / 0 cannot be told apart.",
        )
    return equivocal("laboratory final call: equivocal", "reflex_ish")
