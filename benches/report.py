"""The full benchmark report: the Python-level figures of `veritree bench` plus
the Rust peers (rs_merkle, ct-merkle) timed by `peer_report`, in one run.

    pip install '.[bench]' && python benches/report.py [--quick] [--billion] [--json out.json]

Every figure is a ratio measured in this run (see veritree/bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from veritree import bench

ROOT = Path(__file__).resolve().parent.parent


def rust_peers() -> dict:
    """Runs the Rust peer comparison and returns its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peers.json"
        subprocess.run(
            ["cargo", "run", "--quiet", "--release", "-p", "veritree-benches", "--features", "peers",
             "--bin", "peer_report", "--", str(out)],
            cwd=ROOT, check=True,
        )
        return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--billion", action="store_true",
                        help="also stream the root of 2^30 leaf hashes and build a 10^8-key map on disk")
    parser.add_argument("--json", metavar="PATH", default="bench-results.json")
    args = parser.parse_args()
    print("# Rust peers (SHA-256, same leaves)\n")
    peers = rust_peers()
    print("\n# Python API\n")
    bench.run(quick=args.quick, json_path=args.json, billion_run=args.billion)
    results = json.loads(Path(args.json).read_text())
    results["rust_peers"] = peers
    Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
