"""The drug vocabulary: INN canonical, aliases, products, RxNorm codes, clear unknown-drug errors."""

from __future__ import annotations

import pytest

from oncoline.errors import UnknownDrugError
from oncoline.knowledge.drugs import DrugRole, load_vocabulary

V = load_vocabulary()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Herceptin", ("trastuzumab",)),
        ("trastuzumab-dkst", ("trastuzumab",)),
        ("Ogivri", ("trastuzumab",)),
        ("Herceptin Hylecta", ("trastuzumab",)),
        ("PHESGO", ("pertuzumab", "trastuzumab")),
        ("pertuzumab, trastuzumab, and hyaluronidase-zzxf", ("pertuzumab", "trastuzumab")),
        ("Kadcyla", ("trastuzumab emtansine",)),
        ("ado-trastuzumab emtansine", ("trastuzumab emtansine",)),
        ("T-DM1", ("trastuzumab emtansine",)),
        ("Enhertu", ("trastuzumab deruxtecan",)),
        ("fam-trastuzumab deruxtecan-nxki", ("trastuzumab deruxtecan",)),
        ("  Trastuzumab   Deruxtecan ", ("trastuzumab deruxtecan",)),
        ("Abraxane", ("nab-paclitaxel",)),
        ("leuprolide", ("leuprorelin",)),
        ("rifampin", ("rifampicin",)),
        ("224905", ("trastuzumab",)),
        ("rxnorm:1371046", ("trastuzumab emtansine",)),
        ("Doxorubicin Hydrochloride", ("doxorubicin",)),
    ],
)
def test_resolves_aliases(name: str, expected: tuple[str, ...]) -> None:
    assert V.resolve(name) == expected


def test_adcs_are_never_trastuzumab() -> None:
    for adc in ("trastuzumab emtansine", "trastuzumab deruxtecan"):
        drug = V.drug(adc)
        assert drug.name != "trastuzumab"
        assert drug.in_class("anti_her2_adc")
        assert not drug.in_class("anti_her2_antibody")


def test_unknown_drug_names_closest() -> None:
    with pytest.raises(UnknownDrugError) as info:
        V.resolve("trastuzamab")
    assert info.value.suggestions and info.value.suggestions[0] == "trastuzumab"
    assert "Did you mean" in str(info.value)


def test_placeholder_rxnorm_code_is_unknown() -> None:
    # Synthea's placeholder "1234" for pertuzumab and CDK4/6 inhibitors must not resolve to anything.
    assert V.lookup("1234") is None


def test_roles_and_classes_are_consistent() -> None:
    for drug in V.drugs:
        if drug.in_class("her2_directed") or drug.in_class("chemotherapy") or drug.in_class("endocrine_therapy"):
            assert drug.role == DrugRole.ANTICANCER, drug.name
        if drug.in_class("bone_modifying_agent") or drug.in_class("antiemetic"):
            assert drug.role == DrugRole.SUPPORTIVE, drug.name
    # the check_cases vocabulary of classes is covered
    assert set(V.members("taxane")) == {"docetaxel", "paclitaxel", "nab-paclitaxel"}
    assert set(V.members("cdk46_inhibitor")) == {"palbociclib", "ribociclib", "abemaciclib"}
    assert set(V.members("aromatase_inhibitor")) == {"letrozole", "anastrozole", "exemestane"}
