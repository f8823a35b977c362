"""oncoline tests (a regular package: textstat 0.7.8-0.7.13 installs a top-level `tests` package into site-packages,
which would otherwise shadow this folder and break `from tests.engines... import`)."""
