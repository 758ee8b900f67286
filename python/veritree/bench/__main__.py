"""The child processes some benchmarks measure in, each for its own peak
memory; each prints its result as JSON:

    python -m veritree.bench log-disk DIR EXPONENT
    python -m veritree.bench stream-root SUITE EXPONENT CHUNK_EXPONENT
    python -m veritree.bench map-disk DIR SIZE BATCH,BATCH,... REPEAT
    python -m veritree.bench kt-reader DIR REQUESTS_FILE
    python -m veritree.bench kt-lookups TARGET REQUESTS_FILE SECONDS   (then the start time on stdin)
    python -m veritree.bench kt-postgres URL LABELS   (prints the table, not JSON)
"""

from __future__ import annotations

import json
import sys

from veritree.bench.common import SUITES
from veritree.bench.kt_disk import reader_child
from veritree.bench.kt_postgres import kt_on_postgres, lookups_child
from veritree.bench.log import build_disk_log, stream_root
from veritree.bench.map import build_on_disk


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
            from veritree.bench.common import print_table

            print_table({}, kt_on_postgres(url, int(labels)))
            return 0
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
