"""Parsing patient documents (io/document.py) and the import structure it makes possible: io/fhir and
io/patient_file both use it, and neither imports the other at module level (issue 7 item 2: no cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from oncoline.errors import InputError
from oncoline.io.document import is_fhir, load_document, not_a_patient_reason

IO = Path(__file__).resolve().parents[2] / "src" / "oncoline" / "io"


def imported_modules(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_fhir_module_imports_patient_file() -> None:
    for path in sorted((IO / "fhir").glob("*.py")):
        assert not {m for m in imported_modules(path, top_level_only=False) if "patient_file" in m}, path.name


def test_patient_file_and_document_do_not_import_fhir_at_module_level() -> None:
    for name in ("patient_file.py", "document.py"):
        found = imported_modules(IO / name, top_level_only=True)
        assert not {m for m in found if m.startswith(("oncoline.io.fhir", "fhir"))}, name
    found = imported_modules(IO / "document.py", top_level_only=False)
    assert not {m for m in found if m.startswith(("oncoline.io.fhir", "oncoline.io.patient_file", "fhir"))}


def test_a_byte_order_mark_at_the_start_of_a_file_is_ignored(tmp_path: Path) -> None:
    for name, text in (("p.json", '{"resourceType": "Bundle"}'), ("p.yaml", "resourceType: Bundle\n")):
        path = tmp_path / name
        path.write_text("\ufeff" + text, encoding="utf-8")
        doc = load_document(path)
        assert is_fhir(doc) and doc["resourceType"] == "Bundle"


def test_a_json_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"id": "a", "id": "b"}', encoding="utf-8")
    with pytest.raises(InputError, match="'id' is given twice"):
        load_document(path)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"states": {"Initial": {}}, "name": "m"}, "Synthea Generic Module"),
        ({"cases": [], "version": 1}, "file of test cases"),
        ([1, 2], "the top level is a list"),
        ({"resourceType": "Bundle"}, None),
        ({"tumor": {}}, None),
    ],
)
def test_a_document_that_is_clearly_not_a_patient_is_named(doc: object, reason: str | None) -> None:
    found = not_a_patient_reason(doc)
    assert (found is None) if reason is None else (reason in (found or ""))
