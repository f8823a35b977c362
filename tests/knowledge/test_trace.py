"""The traceability matrix (knowledge/trace.py, reference_trace.yaml) and its checks: ids derived from the
reference's structure, a new rule of a new edition reported as missing, dangling knowledge ids and tests, the
``kb trace`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from oncoline.knowledge.trace import (
    REFERENCE_ENV,
    find_reference,
    load_trace,
    parse_reference,
    parse_reference_text,
    slugify,
    trace_problems,
    trace_report,
)

MINI = """# title
## 0. Conventions
| Term | Def |
|---|---|
| HER2-positive | IHC 3+ |

## a. Algorithm
### a.2 First line
| Regimen | Evidence |
|---|---|
| **THP**: pertuzumab + trastuzumab + docetaxel | CLEOPATRA |
| ET + trastuzumab ± pertuzumab (HR+, selected) | PERTAIN |

Who counts as **chemo-unsuitable** (KB convention): an explicit refusal.

- Favour **THP**: history of ILD.
### a.5 Relapse — how it changes line choice
| Interval | KB output |
|---|---|
| >6 to ≤12 months | T-DXd |
## b. Brain
### b.3 Rules
1. Mass effect → **local therapy first**
   (neurosurgery).
2. Small BM → CNS-active.
## g. HER2
### g.4 Algorithm
```
classify(ihc, ish): ...
```
## h. References
- not a rule
"""


def test_ids_are_derived_from_the_reference_structure() -> None:
    ids = [r.id for r in parse_reference_text(MINI)]
    assert ids == [
        "a.2/thp",
        "a.2/et-trastuzumab-pertuzumab",
        "a.2/who-counts-as-chemo-unsuitable",
        "a.2/favour-thp",
        "a.5/heading",
        "a.5/gt6-to-le12-months",
        "b.3/rule-1",
        "b.3/rule-2",
        "g.4/algorithm",
    ]
    rule1 = next(r for r in parse_reference_text(MINI) if r.id == "b.3/rule-1")
    assert "neurosurgery" in rule1.text  # continuation lines belong to the item


def test_slugify_symbols() -> None:
    assert slugify("HR−") == "hrminus" and slugify("IHC 2+ without ISH") == "ihc-2plus-without-ish"
    assert slugify("Capecitabine-containing regimens in CrCl <30") == "capecitabine-containing-regimens-in-crcl-lt30"


def _write(tmp_path: Path, rules: list[dict[str, object]], name: str = "trace.yaml") -> Path:
    doc = {
        "schema": "oncoline.kb.reference_trace/1",
        "version": "test",
        "effective": "2026-11-29",
        "reference": "mini.md",
        "reference_status_date": "2026-11-29",
        "rules": rules,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _tests_root(tmp_path: Path) -> Path:
    root = tmp_path / "tests"
    root.mkdir()
    (root / "test_v.py").write_text(
        "import pytest\n\ndef test_ok():\n    pass\n\n@pytest.mark.xfail(strict=True, reason='gap')\n"
        "def test_gap():\n    assert False\n",
        encoding="utf-8",
    )
    return root


def _entries(ids: list[str]) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "quote": "quote",
            "status": "encoded",
            "knowledge": ["S1L-THP"],
            "tests": ["tests/test_v.py::test_ok"],
        }
        for i in ids
    ]


ALL_MINI = [r.id for r in parse_reference_text(MINI)]


def test_complete_matrix_is_clean(tmp_path: Path) -> None:
    ref = tmp_path / "mini.md"
    ref.write_text(MINI, encoding="utf-8")
    check = trace_problems(
        trace_path=_write(tmp_path, _entries(ALL_MINI)), reference=ref, tests_root=_tests_root(tmp_path)
    )
    assert check.errors == () and check.notes == ()


def test_new_rule_of_a_new_edition_is_missing(tmp_path: Path) -> None:
    ref = tmp_path / "mini.md"
    ref.write_text(MINI.replace("- Favour **THP**", "- Favour **T-DXd+P**: taxane contraindication.\n- Favour **THP**"))
    check = trace_problems(
        trace_path=_write(tmp_path, _entries(ALL_MINI)), reference=ref, tests_root=_tests_root(tmp_path)
    )
    assert len(check.errors) == 1 and "a.2/favour-t-dxd-p" in check.errors[0]


def test_stale_entry_warns_and_parts_are_allowed(tmp_path: Path) -> None:
    ref = tmp_path / "mini.md"
    ref.write_text(MINI, encoding="utf-8")
    entries = _entries([*ALL_MINI, "a.2/thp#paclitaxel", "a.9/gone"])
    check = trace_problems(trace_path=_write(tmp_path, entries), reference=ref, tests_root=_tests_root(tmp_path))
    assert check.errors == ()
    assert any("a.9/gone" in w for w in check.warnings) and not any("#paclitaxel" in w for w in check.warnings)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"knowledge": ["S1L-NOPE"]}, "do not exist: ['S1L-NOPE']"),
        ({"tests": ["tests/test_v.py::test_missing"]}, "which does not exist"),
        ({"tests": ["tests/test_v.py::test_gap"]}, "every test it names is marked xfail"),
    ],
)
def test_dangling_ids_and_tests_are_errors(tmp_path: Path, change: dict[str, object], words: str) -> None:
    ref = tmp_path / "mini.md"
    ref.write_text(MINI, encoding="utf-8")
    entries = _entries(ALL_MINI)
    entries[0] = {**entries[0], **change}
    check = trace_problems(trace_path=_write(tmp_path, entries), reference=ref, tests_root=_tests_root(tmp_path))
    assert any(words in e for e in check.errors), check.errors


def test_schema_rejects_an_encoded_rule_without_knowledge_or_a_gap_without_reason(tmp_path: Path) -> None:
    from oncoline.errors import KnowledgeBaseError

    bad = [{"id": "a.2/thp", "quote": "quote", "status": "encoded", "tests": ["tests/test_v.py::test_ok"]}]
    with pytest.raises(KnowledgeBaseError, match="knowledge ids"):
        load_trace(_write(tmp_path, bad))
    bad = [{"id": "a.2/thp", "quote": "quote", "status": "not_encoded"}]
    with pytest.raises(KnowledgeBaseError, match="reason"):
        load_trace(_write(tmp_path, bad))
    twice = _entries(["a.2/thp", "a.2/thp"])
    with pytest.raises(KnowledgeBaseError, match="given twice"):
        load_trace(_write(tmp_path, twice))


def test_without_reference_only_the_matrix_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REFERENCE_ENV, raising=False)
    path = _write(tmp_path, _entries(["a.2/thp"]))
    import oncoline.knowledge.trace as trace

    monkeypatch.setattr(trace, "_repo_root", lambda: tmp_path / "site-packages" / "x")
    check = trace_problems(trace_path=path, tests_root=_tests_root(tmp_path))
    assert check.errors == () and any("reference file not found" in n for n in check.notes)
    monkeypatch.setenv(REFERENCE_ENV, str(tmp_path / "absent.md"))
    assert any("does not exist" in e for e in trace_problems(trace_path=path, tests_root=tmp_path).errors)


def test_packaged_matrix_traces_every_rule_of_the_shared_reference() -> None:
    ref = find_reference()
    if ref is None:
        pytest.skip("shared reference not beside this checkout")
    check = trace_problems(reference=ref)
    assert check.errors == (), check.errors[:5]
    have = {e.base for e in load_trace().rules}
    assert {r.id for r in parse_reference(ref)} <= have


def test_report_counts_add_up() -> None:
    report = trace_report()
    total = report.total
    assert total.rules == sum(s.rules for s in report.sections)
    assert total.encoded + total.not_encoded == total.rules
    assert total.with_test == total.encoded
    assert len(report.not_encoded) == total.not_encoded
    assert all(e.reason for e in report.not_encoded)


def test_kb_trace_command_json() -> None:
    from oncoline.cli.app import app

    result = CliRunner().invoke(app, ["kb", "trace", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["rules"] == trace_report().total.rules
    assert {s["section"] for s in data["sections"]} >= {"a.2", "b.3", "d.1", "g.6"}
    assert all(e["reason_kind"] for e in data["not_encoded"])


def test_kb_trace_command_table() -> None:
    from oncoline.cli.app import app

    result = CliRunner().invoke(app, ["kb", "trace"])
    assert result.exit_code == 0, result.output
    assert "§a.2" in result.output and "Not encoded" in result.output


def test_kb_trace_fails_on_a_missing_reference(tmp_path: Path) -> None:
    from oncoline.cli.app import app

    result = CliRunner().invoke(app, ["kb", "trace", "--reference", str(tmp_path / "absent.md")])
    assert result.exit_code == 3


def test_gap_whose_test_passes_now_asks_to_be_flipped(tmp_path: Path) -> None:
    ref = tmp_path / "mini.md"
    ref.write_text(MINI, encoding="utf-8")
    entries = _entries(ALL_MINI)
    gap = {"id": "a.2/thp#x", "quote": "quote", "status": "not_encoded", "reason_kind": "gap", "reason": "missing"}
    still = trace_problems(
        trace_path=_write(tmp_path, [*entries, {**gap, "tests": ["tests/test_v.py::test_gap"]}]),
        reference=ref,
        tests_root=_tests_root(tmp_path),
    )
    assert not any("a.2/thp#x" in w for w in still.warnings)
    fixed = trace_problems(
        trace_path=_write(tmp_path, [*entries, {**gap, "tests": ["tests/test_v.py::test_ok"]}], "t2.yaml"),
        reference=ref,
        tests_root=tmp_path / "tests",
    )
    assert any("a.2/thp#x" in w and "any more" in w for w in fixed.warnings)
