"""``oncoline kb lint|show`` — check and browse the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from oncoline.cli.common import EXIT_KB, guarded, print_json

__all__ = ["register"]


def _companion_problems() -> list[Any]:
    """Load-check the knowledge files beside the recommendation knowledge: the drug vocabulary, the ASCO/CAP HER2
    table, the line-of-therapy parameters and the FHIR / OMOP code maps (each validates its schema on load)."""
    from oncoline.errors import OncolineError
    from oncoline.knowledge.lint import LintProblem

    checks: list[tuple[str, str, str]] = [
        ("drugs.yaml", "oncoline.knowledge.drugs", "load_vocabulary"),
        ("her2_testing.yaml", "oncoline.engines.her2", "load_her2_rules"),
        ("lines.yaml", "oncoline.engines.lines.params", "load_line_params"),
        ("fhir_codes.yaml", "oncoline.io.fhir_codes", "load_fhir_codes"),
        ("omop_concepts.yaml", "oncoline.io.omop_concepts", "load_omop_concepts"),
    ]
    problems: list[Any] = []
    for name, module, function in checks:
        import importlib

        try:
            getattr(importlib.import_module(module), function)()
        except (OncolineError, ValueError, KeyError, TypeError) as exc:
            problems.append(LintProblem(severity="error", message=f"{name}: {exc}"))
    return problems


def register(app: typer.Typer) -> None:
    """Add the ``kb`` command group to ``app``."""
    kb_app = typer.Typer(
        help="Knowledge base: lint the files, show versions and entries, trace the clinical reference.",
        no_args_is_help=True,
    )
    app.add_typer(kb_app, name="kb")

    @kb_app.command("lint")
    @guarded
    def lint_cmd(
        data_dir: Path | None = typer.Option(
            None, "--data-dir", help="Lint these knowledge files instead of the packaged ones."
        ),
        strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
    ) -> None:
        """Check schemas, citations, drugs, regimens and contradicting rule pairs (exit 3 on problems)."""
        from rich.console import Console

        from oncoline.knowledge.lint import lint_knowledge

        console = Console()
        problems = lint_knowledge(data_dir)
        if data_dir is None:
            problems += _companion_problems()
        errors = [p for p in problems if p.severity == "error"]
        for p in problems:
            style = "bold red" if p.severity == "error" else "yellow"
            console.print(f"[{style}]{p.severity}[/]: {p.message}", highlight=False)
        failed = bool(errors) or (strict and bool(problems))
        where = data_dir or "packaged knowledge"
        console.print(
            f"{where}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
            + (" — FAILED" if failed else " — ok"),
            highlight=False,
        )
        if failed:
            raise typer.Exit(EXIT_KB)

    @kb_app.command("trace")
    @guarded
    def trace_cmd(
        reference: Path | None = typer.Option(
            None,
            "--reference",
            help="The clinical reference to check the matrix against (default: $ONCOLINE_REFERENCE, else "
            "../shared/reference/her2-mbc.md beside the repository).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        check: bool = typer.Option(
            True, "--check/--no-check", help="Also check the matrix (as `kb lint` does); exit 3 on an error."
        ),
    ) -> None:
        """Coverage of the clinical reference §a-§g by the knowledge base: per section encoded / with a test / not
        encoded (by reason), and every rule not encoded with its reason."""
        from oncoline.knowledge.trace import trace_problems, trace_report

        report = trace_report()
        problems = trace_problems(reference=reference) if check else None
        if as_json:
            data = report.to_json()
            if problems is not None:
                data["check"] = {
                    "errors": list(problems.errors),
                    "warnings": list(problems.warnings),
                    "notes": list(problems.notes),
                }
            print_json(data)
        else:
            from rich.console import Console
            from rich.table import Table

            console = Console()
            table = Table(
                title=f"Reference coverage: {report.reference} (status {report.reference_status_date})",
                caption="not encoded: gap = the reference says it, oncoline does not do it yet (a strict-xfail test "
                "shows it)",
            )
            for col in ("section", "rules", "encoded", "with test", "not encoded", "why not encoded"):
                table.add_column(
                    col, justify="right" if col in {"rules", "encoded", "with test", "not encoded"} else "left"
                )
            for c in (*report.sections, report.total):
                why = ", ".join(f"{k} {v}" for k, v in c.by_reason.items())
                table.add_row(
                    "all" if c is report.total else f"§{c.section}",
                    str(c.rules),
                    str(c.encoded),
                    str(c.with_test),
                    str(c.not_encoded),
                    why,
                    end_section=c is report.sections[-1],
                )
            console.print(table)
            console.print(f"\n[bold]Not encoded ({len(report.not_encoded)})[/]", highlight=False)
            for e in report.not_encoded:
                console.print(f"  {e.id}  [dim]{e.reason_kind}[/]: {e.reason}", highlight=False)
            if problems is not None:
                for note in problems.notes:
                    console.print(f"[yellow]note[/]: {note}", highlight=False)
                for w in problems.warnings:
                    console.print(f"[yellow]warning[/]: {w}", highlight=False)
                for err in problems.errors:
                    console.print(f"[bold red]error[/]: {err}", highlight=False)
        if problems is not None and problems.errors:
            raise typer.Exit(EXIT_KB)

    @kb_app.command("show")
    @guarded
    def show_cmd(
        entry: str | None = typer.Argument(
            None, metavar="ID", help="Id of a source, regimen, statement, rule or action."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the knowledge version and file summary, or one entry by id."""
        from oncoline.knowledge.loader import load_knowledge

        kb = load_knowledge()
        pools: dict[str, dict[str, object]] = {
            "source": dict(kb.sources),
            "evidence": dict(kb.evidence),
            "regimen": dict(kb.regimens),
            "statement": {s.id: s for s in kb.statements},
            "safety rule": {r.id: r for r in kb.safety.rules},
            "forbidden combination": {r.id: r for r in kb.safety.forbidden_combinations},
            "monitoring": {r.id: r for r in kb.safety.monitoring},
            "action": {a.id: a for a in kb.actions},
        }
        if entry is None:
            summary = {
                "version": kb.version,
                "effective": kb.effective.isoformat(),
                "files": {
                    stem: {"schema": h.schema_, "version": h.version, "effective": h.effective.isoformat()}
                    for stem, h in kb.headers.items()
                },
                "counts": {kind: len(pool) for kind, pool in pools.items()},
            }
            if as_json:
                print_json(summary)
                return
            from rich.console import Console
            from rich.table import Table

            table = Table(title=f"oncoline knowledge {kb.version} (effective {kb.effective})")
            for col in ("file", "schema", "version", "effective"):
                table.add_column(col)
            for stem, h in kb.headers.items():
                table.add_row(f"{stem}.yaml", h.schema_, h.version, h.effective.isoformat())
            console = Console()
            console.print(table)
            console.print(", ".join(f"{n} {kind}(s)" for kind, n in summary["counts"].items()))  # type: ignore[attr-defined]
            return
        for kind, pool in pools.items():
            if entry in pool:
                item = pool[entry]
                data = item.model_dump(mode="json", by_alias=True, exclude_defaults=True)  # type: ignore[attr-defined]
                if as_json:
                    print_json({"kind": kind, **data})
                else:
                    import yaml

                    typer.echo(f"# {kind} {entry} (knowledge {kb.version})")
                    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110).rstrip())
                return
        from oncoline.errors import InputError

        raise InputError(f"no knowledge entry with id {entry!r}; run `oncoline kb show` for the counts by kind")
