"""The benchmarks behind `veritree bench`.

One module per section, each importing only `common` (what they share: the
result row, timing, the limits a rate is set against, the printed table):
`log` (the Merkle log), `map` (the prefix tree), `kt` (the KEYTRANS
directory), `kt_disk` (the directory on disk, read by other processes) and `ckv` (Contact Key Verification); `report` runs them all.
Nothing imports upward. The names below are re-exported for use from the
shell, e.g. ``python -c "from veritree import bench; bench.print_table({},
bench.disk_log(30, '/path/d30'))"``; `python -m veritree.bench` runs the
child processes that some sections measure in.
"""

from veritree.bench.ckv import ckv_directory
from veritree.bench.common import (
    SUITES,
    Row,
    best_time,
    fmt_rate,
    hashing_limits,
    peak_rss_mib,
    print_table,
    random_hashes,
    vrf_limit,
)
from veritree.bench.kt import kt_directory
from veritree.bench.kt_disk import kt_on_disk
from veritree.bench.log import (
    billion,
    disk_log,
    disk_write_bandwidth,
    durable_appends,
    proofs,
    python_appends,
    rfc6962_reference_root,
    tree_builds,
)
from veritree.bench.map import map_builds, map_on_disk, map_proofs, map_updates
from veritree.bench.report import run

__all__ = [
    "SUITES",
    "Row",
    "best_time",
    "billion",
    "ckv_directory",
    "disk_log",
    "disk_write_bandwidth",
    "durable_appends",
    "fmt_rate",
    "hashing_limits",
    "kt_directory",
    "kt_on_disk",
    "map_builds",
    "map_on_disk",
    "map_proofs",
    "map_updates",
    "peak_rss_mib",
    "print_table",
    "proofs",
    "python_appends",
    "random_hashes",
    "rfc6962_reference_root",
    "run",
    "tree_builds",
    "vrf_limit",
]
