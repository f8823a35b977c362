"""``oncoline kb lint|show`` — check and browse the knowledge base."""

from __future__ import annotations

from pathlib import Path

import typer

from oncoline.cli.common import EXIT_KB, esc, guarded, output_console, print_json

__all__ = ["register"]


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
        from oncoline.app.knowledge import lint_knowledge_base

        console = output_console()
        problems = lint_knowledge_base(data_dir)
        errors = [p for p in problems if p.severity == "error"]
        for p in problems:
            style = "bold red" if p.severity == "error" else "yellow"
            console.print(f"[{style}]{p.severity}[/]: {esc(p.message)}", highlight=False)
        failed = bool(errors) or (strict and bool(problems))
        where = data_dir or "packaged knowledge"
        console.print(
            f"{esc(where)}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
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
            from rich.table import Table

            console = output_console(max_width=120)
            table = Table(
                title=f"Reference coverage: {esc(report.reference)} (status {report.reference_status_date})",
                caption="not encoded: gap = the reference says it, oncoline does not do it yet (a strict-xfail test "
                "shows it)",
            )
            for col in ("section", "rules", "encoded", "with test", "not encoded", "why not encoded"):
                numeric = col in {"rules", "encoded", "with test", "not encoded"}
                table.add_column(col, justify="right" if numeric else "left")
            for c in (*report.sections, report.total):
                why = ", ".join(f"{k} {v}" for k, v in c.by_reason.items())
                table.add_row(
                    "all" if c is report.total else f"§{c.section}",
                    str(c.rules),
                    str(c.encoded),
                    str(c.with_test),
                    str(c.not_encoded),
                    esc(why),
                    end_section=c is report.sections[-1],
                )
            console.print(table)
            console.print(f"\n[bold]Not encoded ({len(report.not_encoded)})[/]", highlight=False)
            for e in report.not_encoded:
                console.print(f"  {esc(e.id)}  [dim]{esc(e.reason_kind)}[/]: {esc(e.reason)}", highlight=False)
            if problems is not None:
                for note in problems.notes:
                    console.print(f"[yellow]note[/]: {esc(note)}", highlight=False)
                for w in problems.warnings:
                    console.print(f"[yellow]warning[/]: {esc(w)}", highlight=False)
                for err in problems.errors:
                    console.print(f"[bold red]error[/]: {esc(err)}", highlight=False)
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
        from oncoline.app.knowledge import knowledge_entry, knowledge_summary

        if entry is None:
            summary = knowledge_summary()
            if as_json:
                print_json(summary)
                return
            from rich.table import Table

            from oncoline.outputs.printable import SafeText as Text

            table = Table(title=f"oncoline knowledge {summary['version']} (effective {summary['effective']})")
            for col in ("file", "schema", "version", "effective"):
                table.add_column(col)
            for stem, h in summary["files"].items():
                table.add_row(Text(f"{stem}.yaml"), Text(h["schema"]), Text(h["version"]), Text(h["effective"]))
            console = output_console()
            console.print(table)
            console.print(esc(", ".join(f"{n} {kind}(s)" for kind, n in summary["counts"].items())))
            return
        found = knowledge_entry(entry)
        if as_json:
            print_json({"kind": found.kind, **found.data})
        else:
            import yaml

            typer.echo(f"# {found.kind} {entry} (knowledge {found.version})")
            typer.echo(yaml.safe_dump(found.data, sort_keys=False, allow_unicode=True, width=110).rstrip())
