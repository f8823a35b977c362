"""The order check behind order-select / order-sign (oncoline.app.orders): draft MedicationRequests → regimen →
the recommendation's own exclusions and options, slots (a taxane, a chemotherapy partner) filled by any choice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oncoline.app import recommend_document
from oncoline.app.orders import OrderCheck, check_orders


def _drafts(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"d{i}",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": name},
        }
        for i, name in enumerate(names)
    ]


@pytest.fixture
def check(case_path: Callable[[str], Path]) -> Callable[..., OrderCheck]:
    def run(case: str, *names: str) -> OrderCheck:
        return check_orders(recommend_document(case_path(f"patients/{case}.yaml")), _drafts(*names))

    return run


def test_withheld_regimen_with_another_slot_choice(check: Callable[..., OrderCheck]) -> None:
    # no HER2 result: THP is withheld whichever taxane is ordered (the exclusion names docetaxel)
    c = check("p-her2-missing", "pertuzumab", "trastuzumab", "paclitaxel")
    assert "thp" in [x.regimen for x in c.withheld]
    assert c.withheld_drugs == {} and not c.off_list


def test_drug_only_in_withheld_regimens(check: Callable[..., OrderCheck]) -> None:
    c = check("p-her2-missing", "trastuzumab", "vinorelbine")
    assert c.withheld == ()
    assert "thp" in [x.regimen for x in c.withheld_drugs["trastuzumab"]]


def test_progressed_on_is_withheld_by_brand(check: Callable[..., OrderCheck]) -> None:
    c = check("p-3l-after-thp-tdxd", "Enhertu")
    assert [x.reason_code for x in c.withheld] == ["progressed_on"]
    assert c.resources == {"trastuzumab deruxtecan": ("MedicationRequest/d0",)}


def test_preferred_regimen_whole_partial_and_other_partner(check: Callable[..., OrderCheck]) -> None:
    whole = check("p-3l-after-thp-tdxd", "tucatinib", "trastuzumab", "capecitabine")
    assert [o.regimen for o in whole.matches] == ["ttc"] and whole.withheld == ()
    assert [o.regimen for o in check("p-3l-after-thp-tdxd", "tucatinib").partial] == ["ttc"]
    # trastuzumab + chemotherapy: eribulin fills the chemotherapy slot as vinorelbine does
    assert [o.regimen for o in check("p-3l-after-thp-tdxd", "trastuzumab", "eribulin").matches] == ["trastuzumab_chemo"]


def test_off_list_supportive_and_unknown(check: Callable[..., OrderCheck]) -> None:
    assert check("p-3l-after-thp-tdxd", "pertuzumab", "trastuzumab", "docetaxel").off_list
    support = check("p-3l-after-thp-tdxd", "ondansetron")
    assert support.drugs == () and support.other_drugs == ("ondansetron",) and not support.off_list
    unknown = check("p-3l-after-thp-tdxd", "foobarzumab")
    assert unknown.drugs == () and len(unknown.unknown) == 1 and "foobarzumab" in unknown.unknown[0]


def test_withheld_drug_card_is_critical_with_override(case_path: Callable[[str], Path]) -> None:
    from oncoline.api.cds.cards import order_cards
    from oncoline.api.config import ServiceConfig
    from oncoline.api.state import ServiceState

    outcome = recommend_document(case_path("patients/p-her2-missing.yaml"))
    c = check_orders(outcome, _drafts("trastuzumab", "vinorelbine"))
    cards = order_cards(outcome, c, ServiceState(ServiceConfig()), "oncoline-order-sign", "Patient/x")
    critical = [x for x in cards if x["indicator"] == "critical"]
    assert len(critical) == 1
    assert critical[0]["summary"].startswith("trastuzumab is only in regimens withheld for this patient")
    assert len(critical[0]["summary"]) < 140 and critical[0]["overrideReasons"]
    assert not [x for x in cards if x["summary"].endswith("options")]  # not also called "not among the options"
