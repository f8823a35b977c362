"""Key trials (reference §e) and FDA approval dates (reference §f) of shared/reference/her2-mbc.md: the
figures the options show are the reference's, and an answer "as of" a date offers only what was approved then."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.vignettes.vignette import THP_PROGRESSED, THP_TDXD_PROGRESSED, option, regimens, run

from oncoline import load_knowledge
from oncoline.knowledge.drugs import load_vocabulary

# (evidence id, figures quoted in reference §e / §b.2)
TRIALS = [
    ("EV-CLEOPATRA", ["18.5 vs 12.4", "0.62", "57.1 vs 40.8", "0.69"]),
    ("EV-PERUSE", ["20.7", "65.3"]),
    ("EV-PERTAIN", ["20.6 vs 15.8", "0.67", "60.2 vs 57.2"]),
    ("EV-DB09", ["40.7 vs 26.9", "0.56", "12.1%"]),
    ("EV-PATINA", ["44.3 vs 29.1", "0.75"]),
    ("EV-HER2CLIMB-05", ["24.9 vs 16.3"]),
    ("EV-DB03", ["29.0 vs 7.2", "0.30", "52.6 vs 42.7", "0.73"]),
    ("EV-DB01", ["60.9%", "16.4"]),
    ("EV-DB02", ["17.8 vs 6.9", "0.36", "39.2 vs 26.5"]),
    ("EV-DB12", ["61.6%", "58.9%", "71.7%"]),
    ("EV-EMILIA", ["9.6 vs 6.4", "0.65", "30.9 vs 25.1"]),
    ("EV-TH3RESA", ["6.2 vs 3.3", "22.7 vs 15.8", "0.68"]),
    ("EV-HER2CLIMB", ["7.8 vs 5.6", "0.54", "24.7 vs 19.2"]),
    ("EV-NALA", ["0.76", "0.88", "22.8% vs 29.2%"]),
    ("EV-EGF100151", ["6.2 vs 4.3"]),
    ("EV-EGF104900", ["12.0 vs 8.1", "14 vs 9.5"]),
    ("EV-SOPHIA", ["5.8 vs 4.9", "0.76"]),
    ("EV-MONARCHER", ["8.3 vs 5.7", "0.67", "31.1 vs 20.7"]),
    ("EV-LANDSCAPE", ["65.9%", "8.3"]),
    ("EV-TBCRC022", ["49%", "33%"]),
    ("EV-DB04", ["9.9 vs 5.1", "0.50", "23.4 vs 16.8"]),
    ("EV-DB06", ["13.2 vs 8.1", "0.62", "0.78"]),
    ("EV-HER2CLIMB-02", ["9.5 vs 7.4", "0.76"]),
    ("EV-HER2CLIMB-BM", ["9.9 vs 4.2", "0.32", "18.1 vs 12.0"]),
]


@pytest.mark.parametrize(("evidence_id", "figures"), TRIALS, ids=[t[0] for t in TRIALS])
def test_e_trial_figures_match_reference(evidence_id: str, figures: list[str]) -> None:
    """§e (and §b.2): each trial's headline figures in the knowledge are the reference's."""
    one_liner = load_knowledge().evidence[evidence_id].one_liner
    for figure in figures:
        assert figure in one_liner, (figure, one_liner)


def test_e_evidence_shown_on_options() -> None:
    """§e: the options show their trial evidence (2L T-DXd: DESTINY-Breast03; 3L TTC: HER2CLIMB; T-DM1: EMILIA /
    TH3RESA)."""
    second = run(THP_PROGRESSED)
    assert any("DESTINY-Breast03" in e for e in option(second, "tdxd").evidence)
    third = run(THP_TDXD_PROGRESSED)
    assert any("HER2CLIMB" in e for e in option(third, "ttc").evidence)
    assert any("TH3RESA" in e for e in option(third, "tdm1").evidence)


def test_b2_tdxd_brain_subgroup_figures() -> None:
    """§b.2 DB-01 BM subgroup (cORR 58.3 %, PFS 18.1 mo) and DB-03 BM subgroup (IC-ORR ~65.7 % vs 34.3 %)."""
    text = " ".join(e.one_liner for e in load_knowledge().evidence.values())
    assert "58.3%" in text and "65.7%" in text


APPROVALS = [
    ("LBL-HERCEPTIN", dt.date(1998, 9, 25)),
    ("LBL-PERJETA", dt.date(2012, 6, 8)),
    ("LBL-PHESGO", dt.date(2020, 6, 29)),
    ("LBL-KADCYLA", dt.date(2013, 2, 22)),
    ("LBL-ENHERTU", dt.date(2019, 12, 20)),
    ("LBL-ENHERTU-2L", dt.date(2022, 5, 4)),
    ("LBL-ENHERTU-LOW", dt.date(2022, 8, 5)),
    ("LBL-ENHERTU-ULTRALOW", dt.date(2025, 1, 27)),
    ("LBL-ENHERTU-1L", dt.date(2025, 12, 15)),
    ("LBL-TUKYSA", dt.date(2020, 4, 17)),
    ("LBL-NERLYNX", dt.date(2020, 2, 25)),
    ("LBL-TYKERB", dt.date(2007, 3, 13)),
    ("LBL-MARGENZA", dt.date(2020, 12, 16)),
    ("LBL-IBRANCE", dt.date(2026, 6, 24)),
]


@pytest.mark.parametrize(("source_id", "date"), APPROVALS, ids=[a[0] for a in APPROVALS])
def test_f_approval_dates_match_reference(source_id: str, date: dt.date) -> None:
    """§f: the approval date the knowledge dates each label by is the reference's."""
    assert load_knowledge().sources[source_id].approval_date == date


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Herceptin Hylecta", ("trastuzumab",)),
        ("Ogivri", ("trastuzumab",)),
        ("trastuzumab-strf", ("trastuzumab",)),
        ("Poherdy", ("pertuzumab",)),
        ("Phesgo", ("pertuzumab", "trastuzumab")),
        ("Kadcyla", ("trastuzumab emtansine",)),
        ("Enhertu", ("trastuzumab deruxtecan",)),
        ("Tukysa", ("tucatinib",)),
        ("Nerlynx", ("neratinib",)),
        ("Tykerb", ("lapatinib",)),
        ("Margenza", ("margetuximab",)),
        ("Ibrance", ("palbociclib",)),
    ],
)
def test_f_products_resolve_to_generic_names(name: str, canonical: tuple[str, ...]) -> None:
    """§f products (brands, SC forms, biosimilars) resolve to their generic (INN) drugs; T-DM1 / T-DXd are never
    "trastuzumab"."""
    assert set(load_vocabulary().resolve(name)) == set(canonical)


def test_f_answers_as_of_a_date_offer_only_approved_drugs() -> None:
    """§f: as of a date before an approval the drug is not offered - T-DXd before 20 Dec 2019 and tucatinib (TTC)
    before 17 Apr 2020 at third line; both after."""
    history = {"metastatic_diagnosis": "2016-01-10", "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2016-01-20", "end": "2017-06-01",
         "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab emtansine"], "start": "2017-06-20", "end": "2019-06-01",
         "stopped": "progression"}]}  # fmt: skip
    before = regimens(run(history, as_of=dt.date(2019, 7, 1)))
    assert "tdxd" not in before and "ttc" not in before
    after = regimens(run(history, as_of=dt.date(2020, 6, 1)))
    assert "tdxd" in after and "ttc" in after


def test_f_as_of_no_later_source_in_any_text() -> None:
    """§f / house rule "no later source leaks into an earlier answer": as of 2024-02-01 no citation is dated later
    and no text names an indication approved later (HER2-ultralow: 27 Jan 2025)."""
    as_of = dt.date(2024, 2, 1)
    rec = run({"tumor": {"er_percent": 80, "her2": {"ihc": "1+"}}, "metastatic_diagnosis": "2022-06-01",
               "history": [{"line": 1, "drugs": ["letrozole", "palbociclib"], "start": "2022-06-10",
                            "end": "2024-01-10", "stopped": "progression"}]}, as_of=as_of)  # fmt: skip
    dates = [c.date for group in (rec.options, rec.actions, rec.monitoring) for item in group for c in item.citations]
    assert all(d is None or d <= as_of for d in dates)
    assert "ultralow" not in rec.model_dump_json().lower()
