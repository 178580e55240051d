"""``takedowns``: the one command line of the package, a subcommand per thing a user runs.

=================  ===============================================================================
``demo``           the whole workflow offline against a generated, SYNTHETIC mirror (``make demo``)
``check-config``   config files checked as the workflow reads them (``make check-config``)
``verify``         every raw file re-hashed against ``data/raw/SHA256SUMS`` (``make verify``)
``plan``           files, bytes, core-hours and wall time of a run, before it (``make plan``)
``calibrate``      the calibration study of the intervals on simulated series (``make calibrate``)
``release``        processed data, results and checksums as one archive (``make release``)
``serve-mirror``   serve a local archive tree on loopback, laid out as ``<host>/<path>``
``mrt``            normalize one MRT file (what the routing rule runs for each file)
=================  ===============================================================================

Each subcommand hands its remaining arguments to the module that does the work, so
``takedowns verify --help`` shows that module's own options.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module whose ``main(argv)`` runs it, arguments put first, one-line help)
SUBCOMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "demo": ("takedowns.demo", (), "run the whole workflow on a generated SYNTHETIC mirror"),
    "check-config": ("takedowns.config", (), "check config files (YAML line, key) before a run"),
    "verify": ("takedowns.sources.ledger", ("verify",), "re-hash raw files against SHA256SUMS"),
    "plan": ("takedowns.plan", (), "the run's files, bytes, core-hours and wall time"),
    "calibrate": ("takedowns.analysis.calibration", (), "calibration study of the intervals"),
    "release": ("takedowns.release", (), "one archive of processed data and results"),
    "serve-mirror": ("takedowns.synthetic.server", (), "serve an archive tree on loopback"),
    "mrt": ("takedowns.routing.mrt", (), "normalize one MRT file"),
}


def usage() -> str:
    """The list of subcommands, one a line."""
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in SUBCOMMANDS.items()]
    return "usage: takedowns <subcommand> [arguments]\n\nsubcommands:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``takedowns <subcommand> [arguments]``; return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"takedowns: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, first, _ = SUBCOMMANDS[name]
    status = importlib.import_module(module).main([*first, *rest])
    return int(status or 0)


if __name__ == "__main__":
    raise SystemExit(main())
