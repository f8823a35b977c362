"""``oncoline serve`` — the HTTP service: REST API, CDS Hooks 2.0 services and the clinician page.

Thin: reads the options and the configuration file, then runs :func:`oncoline.api.create_app` on uvicorn.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from oncoline.cli.common import err_console, guarded
from oncoline.errors import InputError

__all__ = ["is_loopback", "register"]


def is_loopback(host: str, /) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    @guarded
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
        config: Path | None = typer.Option(
            None,
            "--config",
            metavar="FILE",
            help="TOML configuration: public_url, [[issuers]] with jwks_file or jwks_url, max_body_bytes, "
            "cors_origins, feedback_db (README, section Service).",
        ),
        insecure_dev: bool = typer.Option(
            False,
            "--insecure-dev",
            help="Development only: CDS Hooks without authentication. Refused unless bound to a loopback address; "
            "announced at start-up and in every response.",
        ),
    ) -> None:
        """Run the oncoline service: the clinician page at /, the REST API at /api/v1, CDS Hooks at /cds-services,
        the API documentation at /docs (served offline).

        Exit codes: 1 bad configuration · 2 usage (e.g. --insecure-dev on a non-loopback address).
        """
        try:
            import uvicorn

            from oncoline.api import create_app, load_config
        except ImportError as exc:  # the api extra is not installed
            raise InputError(
                f'the service needs the api extra: pip install "oncoline[api]" ({exc.name} missing)'
            ) from exc
        if insecure_dev and not is_loopback(host):
            raise InputError(
                f"--insecure-dev turns authentication off and is only allowed on a loopback address, not {host}; "
                "drop it, or bind to 127.0.0.1",
                field="--insecure-dev",
            )
        shown_host = f"[{host}]" if ":" in host else host
        overrides: dict[str, object] = {"insecure_dev": insecure_dev}
        settings = load_config(config)
        if config is None or settings.public_url == "http://127.0.0.1:8000":
            overrides["public_url"] = f"http://{shown_host}:{port}"
        settings = load_config(config, **overrides)
        if insecure_dev:
            err_console.print(
                "[bold red]INSECURE DEVELOPMENT MODE: CDS Hooks authentication is OFF[/] (loopback only; every "
                "response carries the X-Oncoline-Insecure-Dev header)",
                highlight=False,
            )
        elif not settings.issuers:
            err_console.print(
                "[yellow]no trusted issuers configured: every CDS Hooks call will be refused (401); add [[issuers]] "
                "to --config (README, section Service)[/]",
                highlight=False,
            )
        err_console.print(
            f"oncoline serving on http://{shown_host}:{port}/ (public URL {settings.public_url}; page /, API /docs, "
            f"CDS Hooks /cds-services; feedback to {settings.feedback_db}) — Ctrl+C stops",
            highlight=False,
        )
        log_config = {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
            "loggers": {
                "oncoline": {"handlers": ["err"], "level": "INFO"},
                "uvicorn.error": {"handlers": ["err"], "level": "INFO"},
            },
        }
        # uvicorn's access log is off: it would print /view/<token> paths; oncoline.api logs each request instead
        uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_config=log_config)
