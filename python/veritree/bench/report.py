"""The benchmark report behind `veritree bench`: every section, in one run,
printed as a table and optionally written as JSON and drawn as charts
(`veritree.bench.plot`).

Every figure is a ratio measured in the same run: against the hashing limit
(the suite's best many-input node hashing on all cores, `veritree.hash_limit`),
against `pymerkle` and a pure-Python hashlib reference, or against k single
proofs. Absolute rates drift on a shared machine; the ratios are the claim.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from veritree.bench import ckv, kt, log
from veritree.bench import map as map_
from veritree.bench.common import SUITES, Row, hashing_limits, machine_info, print_table
from veritree.bench.plot import PlotExtraMissing, machine_of, require_matplotlib, write_plots


def _on_disk(size: int, batches: list[int], repeat: int = 3) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="veritree-bench-") as tmp:
        return map_.map_on_disk(size, batches, os.path.join(tmp, "map"), repeat=repeat)


def run(quick: bool = False, json_path: str | None = None, billion_run: bool = False,
        plot_dir: str | None = None) -> int:
    """Measures every section (small sizes if `quick`; `billion_run` adds the largest), prints the table,
    writes the rows as JSON to `json_path` and draws their charts (PNG) into `plot_dir` if given.
    Charts need the plot extra: without it, or with `plot_dir` not a folder, nothing is measured (exit 2)."""
    if plot_dir is not None:
        try:
            require_matplotlib()
        except PlotExtraMissing as e:
            print(f"veritree bench: --plot: {e}", file=sys.stderr)
            return 2
        if Path(plot_dir).exists() and not Path(plot_dir).is_dir():
            print(f"veritree bench: --plot: {plot_dir} is not a folder", file=sys.stderr)
            return 2
    machine, date = machine_info(), datetime.date.today().isoformat()
    limits = hashing_limits(0.3 if quick else 1.0)
    steps: list[tuple[str, Callable[[], list[Row]]]]
    if quick:
        steps = [
            ("log: tree builds", lambda: log.tree_builds([16, 20], repeat=3)),
            ("log: appends from Python", lambda: log.python_appends(20_000, 100, repeat=2)),
            ("log: proofs", lambda: log.proofs(20, 20_000, 2_000, repeat=3)),
            ("log: durable appends", lambda: log.durable_appends(1 << 14, repeat=1)),
            ("map: builds", lambda: map_.map_builds([1 << 16])),
            ("map: updates", lambda: map_.map_updates(1 << 16, [1000], repeat=2)),
            ("map: proofs", lambda: map_.map_proofs(1 << 16, 1000, repeat=2)),
            ("map: on disk", lambda: _on_disk(10**5, [1000], repeat=2)),
            ("KEYTRANS directory", lambda: kt.kt_directory(10_000, [1000], searches=200)),
            ("CKV directory", lambda: ckv.ckv_directory(10_000, lookups=300, updates=1000)),
        ]
    else:
        steps = [
            ("log: tree builds", lambda: log.tree_builds([20, 22, 24, 26], repeat=3)),
            ("log: appends from Python", lambda: log.python_appends(200_000, 100, repeat=3)
             + log.python_appends(50_000, 1024, repeat=3)),
            ("log: proofs", lambda: log.proofs(24, 1 << 20, 20_000, repeat=3)),
            ("log: durable appends", lambda: log.durable_appends(1 << 16, repeat=3)),
            ("map: builds", lambda: map_.map_builds([10**6, 10**7])),
            ("map: updates", lambda: map_.map_updates(10**6, [1000, 10_000, 100_000], repeat=3)),
            ("map: proofs", lambda: map_.map_proofs(10**6, 20_000, repeat=3)),
            ("map: on disk", lambda: _on_disk(10**7, [1000, 10_000, 100_000])),
            ("KEYTRANS directory", lambda: kt.kt_directory(10**6, [1000, 10_000, 100_000], searches=2000)),
            ("CKV directory", lambda: ckv.ckv_directory(10**6, lookups=2000, updates=10_000)),
        ]
    if billion_run:
        steps += [(f"log: 2^30 leaves, {suite}", functools.partial(log.billion, suite, 30)) for suite in SUITES]
        steps += [
            ("map: 10^8 keys", lambda: map_.map_builds([10**8], repeat=1, suites=("keytrans-sha256",))),
            ("map: 10^8 keys on disk", lambda: _on_disk(10**8, [1000, 10_000, 100_000])),
            ("KEYTRANS directory, 10^7 labels", lambda: kt.kt_directory(10**7, [1000, 10_000, 100_000], searches=2000)),
        ]
    rows: list[Row] = []
    # Progress on a terminal only: a log or a pipe gets the table alone.
    with tqdm(steps, desc="veritree bench", unit="section", disable=not sys.stderr.isatty(), leave=False) as bar:
        for title, step in bar:
            bar.set_postfix_str(title)
            rows += step()
    print_table(limits, rows)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"machine": machine, "date": date, "hash_limit": limits, "rows": [asdict(r) for r in rows]},
                      f, indent=1)
        print(f"\nwrote {json_path}")
    if plot_dir is not None:
        for path in write_plots(rows, plot_dir, machine=machine_of({"machine": machine}), date=date):
            print(f"wrote {path}")
    return 0
