"""``python -m benchmarks <name> [options]`` — run one benchmark (``lines`` or ``recommend``)."""

from __future__ import annotations

import sys

BENCHMARKS = {
    "fuzz": "benchmarks.fuzz",  # the long fuzzing campaign (issue 12 item 8)
    "lines": "benchmarks.bench_lines",
    "lines-timeline": "benchmarks.timeline_lines",  # one `oncoline lines` process, phase by phase (issue 13)
    "recommend": "benchmarks.bench_recommend",
    "report": "benchmarks.bench_report",
    "serve": "benchmarks.bench_serve",
}


def main(argv: list[str]) -> int:
    """Dispatch to the benchmark named first on the command line."""
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m benchmarks {{{','.join(BENCHMARKS)}}} [options]  (then --help)", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(BENCHMARKS[argv[0]])
    code: int = module.main(argv[1:])
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
