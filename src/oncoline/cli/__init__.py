"""The ``oncoline`` command line (Typer): one module per sub-command, registered in :mod:`oncoline.cli.app`."""
