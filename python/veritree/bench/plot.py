"""Charts of a benchmark run: one PNG per family of benchmarks, throughput
against size, with the peers and the limit measured in the same run drawn
beside veritree's own series.

    write_plots(rows, "charts/")                 # the rows of a run, as `report.run` makes them
    python -m veritree.bench plot RUN.json DIR   # a run saved by `veritree bench --json` or benches/report.py

The rows are the report's own (`Row`, or its JSON form): each chart's points
are read from the rows' sections and cases, and a limit (the hashing limit,
the VRF limit) or a reference (the in-memory log) is drawn from a row's
ratio against it (`rate / ratio`: the limit in the row's own unit, measured
in the same run). A peer that the run lacks (pymerkle not installed, the Rust
peers not run) is named in the legend instead of drawn.

matplotlib is an optional extra (`pip install 'veritree[plot]'`), imported
only when a chart is drawn, with the Agg backend (no display needed).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from veritree.bench.common import Row, machine_info

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PLOT_EXTRA = "pip install 'veritree[plot]'"
BENCH_EXTRA = "pip install 'veritree[bench]'"
RUST_PEERS = "python benches/report.py"

Kind = Literal["ours", "peer", "limit", "reference"]


class PlotExtraMissing(ModuleNotFoundError):
    """matplotlib is not installed; the message says how to install it."""


def require_matplotlib() -> None:
    """Imports matplotlib with the Agg backend, or raises `PlotExtraMissing` naming the extra."""
    try:
        import matplotlib
    except ModuleNotFoundError as e:
        raise PlotExtraMissing(f"charts need matplotlib, which is not installed: {PLOT_EXTRA}",
                               name="matplotlib") from e
    matplotlib.use("Agg")


@dataclass(frozen=True)
class Family:
    """One chart: its file name, title and axes, and the peers it expects
    (name, how to get it) that are noted in the legend when the run lacks them."""

    name: str
    title: str
    xlabel: str
    ylabel: str
    x_powers_of_two: bool = False
    peers: tuple[tuple[str, str], ...] = ()


FAMILIES = {f.name: f for f in (
    Family("log-roots", "Merkle log: roots and builds over N leaf hashes", "leaf hashes (N)",
           "node hashes per second", x_powers_of_two=True, peers=(("rs_merkle", RUST_PEERS),)),
    Family("log-appends", "Merkle log: appending entries from Python (SHA-256, RFC 6962)",
           "entries appended", "entries per second", peers=(("pymerkle", BENCH_EXTRA),)),
    Family("log-proofs", "Merkle log: inclusion proofs against the log's size", "leaves in the log",
           "proofs per second", x_powers_of_two=True,
           peers=(("rs_merkle", RUST_PEERS), ("ct-merkle", RUST_PEERS))),
    Family("log-durable", "Merkle log on disk (tlog-tiles, fsync): appends against the batch size",
           "entries per batch (one fsync'd checkpoint each)", "entries per second"),
    Family("map-builds", "Prefix tree: a map built from scratch in one batch", "keys",
           "keys per second"),
    Family("map-updates", "Prefix tree: update batches (half new keys, half new values)",
           "updates per batch", "updates per second"),
    Family("map-proofs", "Prefix tree: single-key proofs against the map's size", "keys in the map",
           "proofs per second"),
    Family("kt-publish", "KEYTRANS directory: publishing against the entry's size", "label versions per entry",
           "label versions per second"),
    Family("kt-search", "KEYTRANS directory: searches against the directory's size", "labels in the directory",
           "responses or verifications per second"),
)}


@dataclass(frozen=True)
class Point:
    family: str
    series: str
    kind: Kind
    x: float
    y: float


def _n(text: str) -> int:
    return int(text.replace(",", ""))


def _fits(pattern: str, text: str) -> re.Match[str] | None:
    return re.fullmatch(pattern, text)


def _beside(row: Row, family: str, series: str, x: float, kind: Kind = "limit") -> list[Point]:
    """The limit or reference `row` is measured against, in its own unit: rate / ratio."""
    if row.ratio is None or row.ratio <= 0:
        return []
    return [Point(family, series, kind, x, row.rate / row.ratio)]


def _log_points(row: Row) -> list[Point]:
    s, c = row.section, row.case
    if s == "root over N leaf hashes" and (m := _fits(r"(\S+) N=2\^(\d+) (.+)", c)):
        suite, x, what = m[1], float(1 << int(m[2])), m[3]
        name = "Log.extend_hashes (every level kept)" if what.startswith("Log.") else "merkle_root"
        return [Point("log-roots", f"{suite} {name}", "ours", x, row.rate),
                *_beside(row, "log-roots", f"{suite} hashing limit", x)]
    if s == "streamed root" and (m := _fits(r"(\S+) 2\^(\d+) leaf hashes.*", c)):
        x = float(1 << int(m[2]))
        return [Point("log-roots", f"{m[1]} CompactRange (streamed)", "ours", x, row.rate),
                *_beside(row, "log-roots", f"{m[1]} hashing limit", x)]
    if m := _fits(r"Python appends, SHA-256, (\d+)-byte entries, N=(\d+)", s):
        peer = c.startswith(("pymerkle", "pure-Python"))
        series = c.removeprefix("veritree ") + f", {m[1]}-byte entries"
        return [Point("log-appends", series, "peer" if peer else "ours", float(m[2]), row.rate)]
    if m := _fits(r"proofs on a 2\^(\d+)-leaf log, (\S+)", s):
        x, suite = float(1 << int(m[1])), m[2]
        names = {"inclusion proofs, ": "proofs, batched calls", "inclusion verifications, ": "verifications, batched calls",
                 "inclusion proof, one": "proofs, one call each", "verify_inclusion, one": "verifications, one call each"}
        for start, name in names.items():
            if c.startswith(start):
                points = [Point("log-proofs", f"{suite} {name}", "ours", x, row.rate)]
                return points + _beside(row, "log-proofs", f"{suite} hashing limit (verifications)", x)
        return []
    if (m := _fits(r"durable appends \(tlog-tiles, fsync\), (\d+)-byte entries", s)) and (
            b := _fits(r"batches of (\d+), (\d+) entries", c)):
        x = float(min(int(b[1]), int(b[2])))  # a run of fewer entries than a batch makes one smaller batch
        return [Point("log-durable", f"on disk, {m[1]}-byte entries", "ours", x, row.rate),
                *_beside(row, "log-durable", f"in-memory Log, {m[1]}-byte entries (same batches)", x, "reference")]
    return []


def _map_points(row: Row) -> list[Point]:
    s, c = row.section, row.case
    if (m := _fits(r"prefix tree build, (\S+)", s)) and (k := _fits(r"([\d,]+) random keys in one batch", c)):
        x = float(_n(k[1]))
        return [Point("map-builds", f"{m[1]}, in memory", "ours", x, row.rate),
                *_beside(row, "map-builds", f"{m[1]} hashing limit", x)]
    if m := _fits(r"prefix tree on disk, (\S+), ([\d,]+) keys", s):
        if k := _fits(r"build ([\d,]+) random keys in one batch, durable", c):
            x = float(_n(k[1]))
            return [Point("map-builds", f"{m[1]}, on disk (durable)", "ours", x, row.rate),
                    *_beside(row, "map-builds", f"{m[1]} hashing limit", x)]
        if k := _fits(r"durable batch of ([\d,]+) updates.*", c):
            return [Point("map-updates", f"{m[1]}, on disk (durable), into {m[2]} keys", "ours", float(_n(k[1])),
                          row.rate)]
        return []
    if (m := _fits(r"prefix tree updates, (\S+)", s)) and (k := _fits(r"batch of ([\d,]+) into ([\d,]+) keys", c)):
        return [Point("map-updates", f"{m[1]}, in memory, into {k[2]} keys", "ours", float(_n(k[1])), row.rate)]
    if m := _fits(r"prefix tree proofs, (\S+), ([\d,]+) keys", s):
        names = {"single-key proof, one call each": "proofs", "single-key verification, one call each": "verifications"}
        if c in names:
            return [Point("map-proofs", f"{m[1]} {names[c]}", "ours", float(_n(m[2])), row.rate)]
    return []


def _kt_points(row: Row, entry: int) -> list[Point]:
    s, c = row.section, row.case
    if m := _fits(r"KEYTRANS directory, ([\d,]+) labels", s):
        labels = _n(m[1])
        if k := _fits(r"publish ([\d,]+) updates in one entry", c):
            x = float(_n(k[1]))
            return [Point("kt-publish", f"in memory, publish into {m[1]} labels", "ours", x, row.rate),
                    *_beside(row, "kt-publish", "VRF limit", x)]
        if k := _fits(r"build ([\d,]+) labels \(([\d,]+) per entry\)", c):
            x = float(min(labels, _n(k[2])))
            return [Point("kt-publish", "in memory, build a new directory", "ours", x, row.rate),
                    *_beside(row, "kt-publish", "VRF limit", x)]
        names = {"search responses (greatest version, first contact)": "in memory, search: serve (first contact)",
                 "client verifications (first contact)": "in memory, search: verify (first contact)",
                 "client verifications (returning client, same head)": "in memory, search: verify (returning client)",
                 "contact monitor verifications": "in memory, monitor: verify"}
        if c.startswith("contact monitor responses"):
            return [Point("kt-search", "in memory, monitor: serve", "ours", float(labels), row.rate)]
        if c in names:
            return [Point("kt-search", names[c], "ours", float(labels), row.rate)]
        return []
    if m := _fits(r"KEYTRANS directory on disk, ([\d,]+) labels", s):
        labels = _n(m[1])
        if k := _fits(r"publish ([\d,]+) labels, ([\d,]+) per entry", c):
            x = float(min(labels, _n(k[2])))
            return [Point("kt-publish", "on disk, publish (search keys and Gamma)", "ours", x, row.rate),
                    *_beside(row, "kt-publish", "VRF limit", x)]
        if c.strip() == "publish and complete the proofs":
            x = float(min(labels, entry))
            return [Point("kt-publish", "on disk, publish and complete the VRF proofs", "ours", x, row.rate),
                    *_beside(row, "kt-publish", "VRF limit", x)]
        if c == "search serve rate, in-memory directory (reference)":
            return [Point("kt-search", "on disk's reference: search: serve, the same labels in memory", "reference",
                          float(labels), row.rate)]
        names = {"search serve rate, publisher on disk (warm)": "on disk, search: serve, publisher (warm)",
                 "search serve rate, reader process, warm": "on disk, search: serve, reader process (warm)"}
        if c in names:
            return [Point("kt-search", names[c], "ours", float(labels), row.rate)]
        if c.startswith("search serve rate, reader process, cold"):
            return [Point("kt-search", "on disk, search: serve, reader process (cold)", "ours", float(labels),
                          row.rate)]
    return []


def points_of(row: Row, entry: int = 100_000) -> list[Point]:
    """The chart points one row gives (none for rows no chart shows: sizes in bytes, memory, ...);
    `entry` is the labels per entry of the row's on-disk directory, which its publish row says."""
    if row.rate <= 0 or not math.isfinite(row.rate):
        return []
    return _log_points(row) or _map_points(row) or _kt_points(row, entry)


def chart_points(rows: Iterable[Row]) -> list[Point]:
    """The chart points of a run's rows, in order. A directory too small to have labels to monitor
    (its monitoring rows say 0 labels, their rates timed over nothing) draws no monitoring points."""
    entries: dict[str, int] = {}
    unmonitored: set[str] = set()
    points = []
    for r in rows:
        if m := _fits(r"publish ([\d,]+) labels, ([\d,]+) per entry", r.case):
            entries[r.section] = _n(m[2])
        if r.case.startswith("contact monitor responses (0 labels"):
            unmonitored.add(r.section)
        if r.section in unmonitored and r.case.startswith("contact monitor"):
            continue
        points += points_of(r, entries.get(r.section, 100_000))
    return points


def peer_report_points(report: Mapping[str, Any]) -> list[Point]:
    """The Rust peers' figures (`peer_report`'s JSON, which benches/report.py keeps as `rust_peers`):
    builds from leaf hashes and inclusion proofs, at its one size."""
    n = float(report["n"])
    points = []
    for r in report.get("rows", []):
        seconds = r.get("seconds", {})
        op, items = r.get("op"), float(r.get("items", 0))
        for impl, name in (("veritree", "veritree (Rust, all cores)"), ("rs_merkle", "rs_merkle (Rust, one thread)"),
                           ("ct_merkle", "ct-merkle (Rust, one thread)")):
            t = seconds.get(impl)
            if not t:
                continue
            kind: Kind = "ours" if impl == "veritree" else "peer"
            if op == "build from leaf hashes":
                points.append(Point("log-roots", f"{name}, peer_report", kind, n, (items - 1) / t))
            elif op == "inclusion proofs":
                points.append(Point("log-proofs", f"{name} proofs, peer_report", kind, n, items / t))
            elif op == "verify inclusion proofs":
                points.append(Point("log-proofs", f"{name} verifications, peer_report", kind, n, items / t))
    return points


def _row(r: Row | Mapping[str, Any]) -> Row:
    return r if isinstance(r, Row) else Row(**r)


def describe_machine() -> str:
    """This machine in a few words: its processor, cores and system."""
    return machine_of({"machine": machine_info()}) or "this machine"


@dataclass(frozen=True)
class Series:
    """One line of a chart: its points in order of size."""

    name: str
    kind: Kind
    xs: list[float]
    ys: list[float]


@dataclass(frozen=True)
class Chart:
    """What one PNG shows: the family's series, and the notes its legend adds for what the run lacks."""

    family: Family
    series: list[Series]
    notes: list[str]


def charts(rows: Iterable[Row | Mapping[str, Any]], rust_peers: Mapping[str, Any] | None = None) -> list[Chart]:
    """The charts of a run: one per family that the rows (and `rust_peers`, peer_report's JSON) have
    veritree's own points for, in the order of `FAMILIES`."""
    run = [_row(r) for r in rows]
    points = chart_points(run)
    if rust_peers:
        points += peer_report_points(rust_peers)
    notes = _row_notes(run)
    out = []
    for family in FAMILIES.values():
        mine = [p for p in points if p.family == family.name]
        if any(p.kind == "ours" for p in mine):
            out.append(Chart(family, _series(mine), _family_notes(family, mine, notes, bool(rust_peers))))
    return out


def write_plots(rows: Iterable[Row | Mapping[str, Any]], directory: str | os.PathLike[str], *,
                machine: str | None = None, date: str | None = None,
                rust_peers: Mapping[str, Any] | None = None) -> list[Path]:
    """Draws `charts(rows, rust_peers)`, one PNG each (named after its family), into `directory` (made if
    missing); returns the files written. `machine` and `date`, the run's, go in the titles (default: this
    machine, today). Raises `PlotExtraMissing` without matplotlib."""
    require_matplotlib()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stamp = f"{machine or describe_machine()} · {date or datetime.date.today().isoformat()}"
    written = []
    for chart in charts(rows, rust_peers):
        path = out / f"{chart.family.name}.png"
        _draw(chart, stamp, path)
        written.append(path)
    return written


def _row_notes(rows: Sequence[Row]) -> dict[str, list[str]]:
    """Notes the rows carry (`extra["note"]`, e.g. a peer not installed), by the families of their section."""
    families: dict[str, set[str]] = {}
    for r in rows:
        families.setdefault(r.section, set()).update(p.family for p in points_of(r))
    notes: dict[str, list[str]] = {}
    for r in rows:
        note = r.extra.get("note")
        if isinstance(note, str):
            for f in sorted(families.get(r.section, ())):
                notes.setdefault(f, []).append(note)
    return notes


def _family_notes(family: Family, points: Sequence[Point], row_notes: Mapping[str, list[str]],
                  has_rust_peers: bool) -> list[str]:
    notes = list(dict.fromkeys(row_notes.get(family.name, [])))
    present = {p.series for p in points if p.kind == "peer"}
    for name, how in family.peers:
        if how == RUST_PEERS and has_rust_peers:
            continue  # peer_report ran; a peer without this operation is simply absent
        if not any(name in s for s in present) and not any(name in n for n in notes):
            notes.append(f"{name}: not in this run ({how})")
    return notes


def _series(points: Sequence[Point]) -> list[Series]:
    """Each series' points in order of size; several at one size (a limit measured twice) averaged."""
    grouped: dict[tuple[str, Kind], dict[float, list[float]]] = {}
    for p in points:
        grouped.setdefault((p.series, p.kind), {}).setdefault(p.x, []).append(p.y)
    order = {"ours": 0, "peer": 1, "reference": 2, "limit": 3}
    out = []
    for (name, kind), by_x in sorted(grouped.items(), key=lambda item: (order[item[0][1]], item[0][0])):
        xs = sorted(by_x)
        out.append(Series(name, kind, xs, [sum(by_x[x]) / len(by_x[x]) for x in xs]))
    return out


def _spans_decades(values: Sequence[float], factor: float) -> bool:
    return min(values) > 0 and max(values) / min(values) >= factor


def scales(chart: Chart) -> tuple[Literal["linear", "log", "log2"], Literal["linear", "log"]]:
    """The chart's axes: sizes a decade or more apart on a log axis (base 2 for powers of two), rates
    20 times or more apart on a log axis; linear otherwise (a linear rate axis starts at zero)."""
    xs = [x for line in chart.series for x in line.xs]
    ys = [y for line in chart.series for y in line.ys]
    x: Literal["linear", "log", "log2"] = "linear"
    if _spans_decades(xs, 10):
        x = "log2" if chart.family.x_powers_of_two else "log"
    return x, "log" if _spans_decades(ys, 20) else "linear"


def _draw(chart: Chart, stamp: str, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, FuncFormatter, NullFormatter

    eng = EngFormatter(sep=" ")

    def minor(decades: float) -> FuncFormatter | NullFormatter:
        """Labels at 2 and 5 times a power of ten where the axis spans too few decades to read without."""
        if decades >= 2.5:
            return NullFormatter()
        return FuncFormatter(lambda v, _: eng(v) if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")

    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=96)
    try:
        family = chart.family
        _plot_series(ax, chart.series)
        xs = [x for line in chart.series for x in line.xs]
        ys = [y for line in chart.series for y in line.ys]
        x_scale, y_scale = scales(chart)
        if x_scale == "log2":
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"$2^{{{round(math.log2(v))}}}$"))
        elif x_scale == "log":
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(eng)
            ax.xaxis.set_minor_formatter(minor(math.log10(max(xs) / min(xs))))
        else:
            ax.xaxis.set_major_formatter(eng)
            if len(set(xs)) <= 2:
                ax.set_xticks(sorted(set(xs)))
        if y_scale == "log":
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(minor(math.log10(max(ys) / min(ys))))
        else:
            ax.set_ylim(0, max(ys) * 1.12)
        ax.yaxis.set_major_formatter(eng)
        ax.set_xlabel(family.xlabel)
        ax.set_ylabel(family.ylabel)
        ax.set_title(f"{family.title}\n{stamp}", fontsize=10.5)
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", alpha=0.12)
        for note in chart.notes:
            ax.plot([], [], linestyle="none", label=f"(not drawn) {note}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.savefig(path, format="png", bbox_inches="tight", metadata={"Software": "veritree.bench.plot"})
    finally:
        plt.close(fig)


#: How each kind of series is drawn: ours solid with dots, peers dashed with squares, limits dotted (no
#: markers), references dash-dotted.
STYLE: dict[Kind, dict[str, Any]] = {
    "ours": {"linestyle": "-", "marker": "o", "linewidth": 1.8, "markersize": 5},
    "peer": {"linestyle": "--", "marker": "s", "linewidth": 1.4, "markersize": 5},
    "limit": {"linestyle": ":", "marker": "", "linewidth": 2.0},
    "reference": {"linestyle": "-.", "marker": "^", "linewidth": 1.2, "markersize": 4},
}


#: Where a chart's series fall into groups (a hash suite, an entry size), each group has a hue: its own
#: series in shades of it, told apart by their markers, and its limit or reference in its darkest shade.
HUES = (("#08519c", "#4292c6", "#6baed6", "#2171b5", "#9ecae1"), ("#d94801", "#fd8d3c", "#f16913", "#fdae6b", "#a63603"),
        ("#238b45", "#74c476", "#41ab5d", "#a1d99b", "#006d2c"), ("#6a51a3", "#9e9ac8", "#807dba", "#bcbddc", "#54278f"))
DARK = ("#08306b", "#7f2704", "#00441b", "#3f007d")
MARKERS = ("o", "s", "D", "v", "^", "P", "X")
#: Colours of the series outside any group (peers from another run, a VRF limit): none of the hues'.
OTHERS = ("C3", "C4", "C5", "C6", "C8", "C9", "C7")
_GROUP = re.compile(r"rfc6962-sha256|keytrans-sha256|blake3|\d+-byte entries")


def _group(name: str) -> str | None:
    found = _GROUP.search(name)
    return found[0] if found else None


def _plot_series(ax: Axes, series: Sequence[Series]) -> None:
    groups = sorted({name for line in series if (name := _group(line.name))},
                    key=lambda name: ("sha256" not in name, name))  # SHA-256 in blue on every chart
    grouped = 2 <= len(groups) <= len(HUES)  # one group (every series says "100-byte entries") is no grouping
    used: dict[str, int] = {}
    others = iter(OTHERS * 10)
    colours = iter(f"C{i % 10}" for i in range(1000))
    greys = iter(("0.1", "0.45", "0.65", "0.3", "0.55") * 20)
    for line in series:
        style = dict(STYLE[line.kind])
        group = _group(line.name) if grouped else None
        if group is not None:
            hue = groups.index(group)
            if line.kind in ("limit", "reference"):
                colour = DARK[hue]
            else:
                k = used[group] = used.get(group, -1) + 1
                colour = HUES[hue][k % len(HUES[hue])]
                style["marker"] = MARKERS[k % len(MARKERS)]
        elif line.kind == "limit":
            colour = next(greys)
        else:
            colour = next(others) if grouped else next(colours)
        if line.kind == "limit" and len(line.xs) == 1:
            style["marker"] = "_"
            style["markersize"] = 14
        ax.plot(line.xs, line.ys, color=colour, label=line.name, **style)


def load_run(path: str | os.PathLike[str]) -> tuple[list[Row], dict[str, Any]]:
    """The rows of a run saved as JSON (`veritree bench --json`, benches/report.py) and the rest of it."""
    data = json.loads(Path(path).read_text())
    rows = [_row(r) for r in data.get("rows", [])]
    return rows, {k: v for k, v in data.items() if k != "rows"}


def machine_of(run: Mapping[str, Any]) -> str | None:
    """How a saved run describes its machine, if it does."""
    machine = run.get("machine")
    if not isinstance(machine, Mapping):
        return None
    parts = [str(machine[k]) for k in ("cpu",) if machine.get(k)]
    if machine.get("cpus"):
        parts.append(f"{machine['cpus']} cores")
    if machine.get("platform"):
        parts.append(str(machine["platform"]))
    return ", ".join(parts) or None


def plot_file(path: str | os.PathLike[str], directory: str | os.PathLike[str]) -> list[Path]:
    """Charts of a run saved as JSON, into `directory`; the titles name the run's machine and date."""
    rows, run = load_run(path)
    date = run.get("date")
    if not isinstance(date, str):
        date = "date not recorded"
    peers = run.get("rust_peers")
    return write_plots(rows, directory, machine=machine_of(run) or "machine not recorded", date=date,
                       rust_peers=peers if isinstance(peers, Mapping) else None)
