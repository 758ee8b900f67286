"""The child processes some benchmarks measure in, each for its own peak
memory; each prints its result as JSON:

    python -m veritree.bench log-disk DIR EXPONENT
    python -m veritree.bench stream-root SUITE EXPONENT CHUNK_EXPONENT
    python -m veritree.bench map-disk DIR SIZE BATCH,BATCH,... REPEAT
    python -m veritree.bench kt-reader DIR REQUESTS_FILE
    python -m veritree.bench kt-lookups TARGET REQUESTS_FILE SECONDS   (then the start time on stdin)
    python -m veritree.bench kt-postgres URL LABELS   (prints the table, not JSON)

and two that draw charts (PNG, one per family; they need the plot extra,
pip install 'veritree[plot]'):

    python -m veritree.bench plot RUN_JSON DIR    (a run saved by `veritree bench --json`)
    python -m veritree.bench charts DIR [JSON]    (measures the charts' sizes first: a minute or two)
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from veritree.bench.common import SUITES, machine_info, print_table
from veritree.bench.kt_disk import reader_child
from veritree.bench.kt_postgres import kt_on_postgres, lookups_child
from veritree.bench.log import build_disk_log, stream_root
from veritree.bench.map import build_on_disk
from veritree.bench.plot import PlotExtraMissing, machine_of, plot_file, require_matplotlib, write_plots
from veritree.bench.sweep import sweep


def main(argv: list[str]) -> int:
    match argv:
        case ["log-disk", directory, exponent]:
            result: dict[str, object] = {**build_disk_log(directory, int(exponent))}
        case ["stream-root", name, exponent, chunk_exponent]:
            suite = next(s for s in SUITES if s == name)
            result = {**stream_root(suite, int(exponent), int(chunk_exponent))}
        case ["map-disk", directory, size, batches, repeat]:
            result = build_on_disk(directory, int(size), [int(b) for b in batches.split(",")], int(repeat))
        case ["kt-reader", directory, requests_file]:
            result = reader_child(directory, requests_file)
        case ["kt-lookups", target, requests_file, seconds]:
            result = lookups_child(target, requests_file, float(seconds))
        case ["kt-postgres", url, labels]:
            print_table({}, kt_on_postgres(url, int(labels)))
            return 0
        case ["plot", run_json, directory]:
            return _charts(lambda: plot_file(run_json, directory), reading=run_json)
        case ["charts", directory, *json_path] if len(json_path) <= 1:
            return _charts(lambda: charts(directory, json_path[0] if json_path else None))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    print(json.dumps(result))
    return 0


def charts(directory: str, json_path: str | None) -> list[Path]:
    """Measures `sweep`'s sizes, prints the table, keeps the run as JSON if asked and draws its charts."""
    require_matplotlib()  # before minutes of measuring
    machine, date = machine_info(), datetime.date.today().isoformat()
    rows = sweep()
    print_table({}, rows)
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine, "date": date, "rows": [asdict(r) for r in rows]},
                                              indent=1))
    return write_plots(rows, directory, machine=machine_of({"machine": machine}), date=date)


def _charts(draw: Callable[[], list[Path]], reading: str | None = None) -> int:
    """Draws, or says in one line why not: no matplotlib, or (`reading` a saved run) a run it cannot read."""
    try:
        written = draw()
    except PlotExtraMissing as e:
        print(f"python -m veritree.bench: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as e:  # no such run, not JSON, rows of another shape
        if reading is None:
            raise
        print(f"python -m veritree.bench: cannot chart {reading}: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
