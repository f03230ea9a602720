"""`python -m harness.sim.ilo --spec FILE --ready FILE [--cert-dir DIR] [--hardware FILE]`: serve
emulated iLOs.

Writes a one-line JSON ready file (pid, endpoints) once every BMC listens; exits cleanly on
SIGTERM. A bad spec is a one-line error naming the entry and field, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from harness.sim.ilo.app import serve
from harness.sim.ilo.spec import IloSpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sim.ilo",
                                     description="Serve HPE iLO Redfish emulators from a spec.")
    parser.add_argument("--spec", type=Path, required=True, help="spec JSON (spec_from_lab)")
    parser.add_argument("--ready", type=Path, required=True,
                        help="written with pid and endpoints once serving")
    parser.add_argument("--cert-dir", type=Path, default=None,
                        help="where the self-signed certificates go (default: next to --ready)")
    parser.add_argument("--hardware", type=Path, default=None,
                        help="keep the servers' applied adapter state here for their hosts")
    args = parser.parse_args(argv)
    try:
        specs = load_spec(json.loads(args.spec.read_text(encoding="utf-8")))
    except OSError as exc:
        print(f"ilo emulator: cannot read spec {args.spec}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"ilo emulator: {args.spec}: {exc}", file=sys.stderr)
        return 2
    except IloSpecError as exc:
        print(f"ilo emulator: {args.spec}: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(specs, args.cert_dir or args.ready.parent, args.ready, args.hardware))
    except OSError as exc:
        print(f"ilo emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
