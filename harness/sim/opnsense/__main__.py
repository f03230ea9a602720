"""`python -m harness.sim.opnsense --spec FILE --ready FILE [--cert-dir DIR]`: serve one
router's OPNsense API, run inside that router's namespace.

Writes a one-line JSON ready file (pid, endpoint) once listening; exits cleanly on SIGTERM. A
bad spec is a one-line error naming the field, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from harness.sim.opnsense.app import serve
from harness.sim.opnsense.spec import OpnsenseSpecError, RouterSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sim.opnsense",
                                     description="Serve an emulated OPNsense REST API.")
    parser.add_argument("--spec", type=Path, required=True, help="spec JSON (router_spec)")
    parser.add_argument("--ready", type=Path, required=True,
                        help="written with pid and endpoint once serving")
    parser.add_argument("--cert-dir", type=Path, default=None,
                        help="where the self-signed certificate goes (default: next to --ready)")
    args = parser.parse_args(argv)
    try:
        spec = RouterSpec.from_json(json.loads(args.spec.read_text(encoding="utf-8")),
                                    str(args.spec))
    except OSError as exc:
        print(f"opnsense emulator: cannot read spec {args.spec}: {exc.strerror}",
              file=sys.stderr)
        return 2
    except (ValueError, OpnsenseSpecError) as exc:
        print(f"opnsense emulator: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(spec, args.cert_dir or args.ready.parent, args.ready))
    except OSError as exc:
        print(f"opnsense emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
