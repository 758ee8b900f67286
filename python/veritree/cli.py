"""The `veritree` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="veritree", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="measure the log engine against the hashing limit and peers")
    bench.add_argument("--quick", action="store_true", help="small sizes: finishes in well under a minute")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--billion", action="store_true", help="also stream the root of 2^30 leaf hashes (minutes)"
    )
    args = parser.parse_args(argv)
    if args.command == "bench":
        from veritree import bench as bench_mod

        return bench_mod.run(quick=args.quick, json_path=args.json, billion_run=args.billion)
    return 2


if __name__ == "__main__":
    sys.exit(main())
