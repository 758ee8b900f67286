"""Charts of a benchmark run (`veritree.bench.plot`): the report's rows become
one valid PNG per family, with the limit and the peers measured in the same
run beside veritree's series; a peer the run lacks is named in the legend,
not drawn; without matplotlib the command names the extra to install."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from veritree.bench import report
from veritree.bench.__main__ import main as bench_main
from veritree.bench.common import Row
from veritree.bench.plot import FAMILIES, Chart, charts, plot_file, scales, write_plots
from veritree.bench.sweep import sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NO_PYMERKLE = "pymerkle not installed: pip install 'veritree[bench]'"


def assert_png(path: Path) -> None:
    """A PNG file of a chart's size: the signature, an IHDR chunk first, a plausible size, an IEND."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR") and 400 <= width <= 2000 and 250 <= height <= 1200, (path, width, height)
    assert data.endswith(b"IEND\xaeB`\x82"), path
    assert 8_000 < len(data) < 150_000, (path, len(data))


def synthetic_rows(pymerkle: bool = True) -> list[Row]:
    """Rows as the report's sections make them (same sections, cases and units), a few sizes each."""
    rows: list[Row] = []
    for e in (12, 16, 20):
        for suite, limit in (("rfc6962-sha256", 19e6), ("blake3", 90e6)):
            for case, rate in (("Log.extend_hashes (all levels kept)", 0.5 * limit), ("merkle_root (streamed)",
                                                                                      0.95 * limit)):
                rows.append(Row("root over N leaf hashes", f"{suite} N=2^{e} {case}", rate, "node hashes/s",
                                rate / limit, "hashing limit", {"seconds": 1.0}))
    for n in (1_000, 10_000, 100_000):
        section = f"Python appends, SHA-256, 100-byte entries, N={n}"
        cases = {"veritree Log.extend(list of bytes)": 5e6, "veritree Log.append in a Python loop": 3e6,
                 "veritree Log.extend_hashes(numpy)": 14e6, "pure-Python hashlib reference": 0.8e6}
        if pymerkle:
            cases["pymerkle InmemoryTree.append_entry"] = 47e3
        base = "pymerkle InmemoryTree.append_entry" if pymerkle else "pure-Python hashlib reference"
        for case, rate in cases.items():
            rows.append(Row(section, case, rate, "entries/s", rate / cases[base], base))
        if not pymerkle:
            rows[-1].extra["note"] = NO_PYMERKLE
    for e in (12, 16, 20):
        section = f"proofs on a 2^{e}-leaf log, rfc6962-sha256"
        rows += [Row(section, "inclusion proofs, 16384 per call", 1.2e6, "proofs/s"),
                 Row(section, "inclusion verifications, 16384 per call", 0.7e6, "proofs/s", 0.9,
                     "hashing limit (node hashes)", {"nodes_per_proof": e}),
                 Row(section, "inclusion proof, one Python call each", 0.7e6, "proofs/s"),
                 Row(section, "verify_inclusion, one Python call each", 0.3e6, "proofs/s"),
                 Row(section, "batch proof of k=16: generate", 1e6, "leaves/s")]
    rows.append(Row("batch proof size", "rfc6962-sha256 2^20 log, k=16 random leaves", 150, "nodes", 0.8,
                    "k single proofs"))
    for batch in (1, 256, 4096):
        rows.append(Row("durable appends (tlog-tiles, fsync), 100-byte entries", f"batches of {batch}, 4096 entries",
                        200.0 * batch ** 0.8, "entries/s", 0.01, "in-memory log"))
    for n in (10_000, 100_000, 1_000_000):
        for suite in ("keytrans-sha256", "blake3"):
            rows.append(Row(f"prefix tree build, {suite}", f"{n:,} random keys in one batch", 3e6, "keys/s", 0.8,
                            "hashing limit (node hashes)"))
        section = f"prefix tree proofs, keytrans-sha256, {n:,} keys"
        rows += [Row(section, "single-key proof, one call each", 5e5, "proofs/s"),
                 Row(section, "single-key verification, one call each", 3e5, "proofs/s"),
                 Row(section, "16-key proof size", 4000, "bytes", 0.3, "16 single-key proofs")]
    for b in (1_000, 10_000, 100_000):
        rows.append(Row("prefix tree updates, blake3", f"batch of {b:,} into 1,000,000 keys", 1e6, "updates/s"))
    section = "prefix tree on disk, keytrans-sha256, 1,000,000 keys"
    rows += [Row(section, "build 1,000,000 random keys in one batch, durable", 2e6, "keys/s", 0.5,
                 "hashing limit (node hashes)"),
             Row(section, "durable batch of 1,000 updates (half new keys)", 2e5, "updates/s")]
    for n in (1_000, 10_000, 100_000):
        section = f"KEYTRANS directory, {n:,} labels"
        rows += [Row(section, f"build {n:,} labels (100,000 per entry)", 12e3, "labels/s", 0.85, "VRF limit"),
                 Row(section, "publish 1,000 updates in one entry", 11e3, "updates/s", 0.8, "VRF limit"),
                 Row(section, "search responses (greatest version, first contact)", 4.5e3, "responses/s"),
                 Row(section, "client verifications (first contact)", 2.5e3, "verifications/s"),
                 Row(section, "search response size, first contact", 3000, "bytes")]
    section = "KEYTRANS directory on disk, 10,000 labels"
    rows += [Row(section, "publish 10,000 labels, 100,000 per entry", 40e3, "labels/s", 2.0, "VRF limit"),
             Row(section, "  publish and complete the proofs", 20e3, "labels/s", 1.0, "VRF limit"),
             Row(section, "bytes per label on disk", 527, "bytes", 0.96, "value + 300 bytes"),
             Row(section, "search serve rate, in-memory directory (reference)", 10e3, "searches/s"),
             Row(section, "search serve rate, reader process, warm", 9.7e3, "searches/s", 0.97, "in memory"),
             Row(section, "HTTP: wrk is not installed (apt-get install wrk)", 0.0, "")]
    return rows


RUST_PEERS = {"suite": "rfc6962-sha256", "n": 1 << 20, "rows": [
    {"op": "build from leaf hashes", "items": 1 << 20,
     "seconds": {"veritree": 0.06, "veritree_1t": 0.1, "rs_merkle": 0.3, "ct_merkle": None}},
    {"op": "inclusion proofs", "items": 10_000,
     "seconds": {"veritree": 0.004, "veritree_1t": 0.004, "rs_merkle": 0.017, "ct_merkle": 0.01}},
]}


def chart(all_charts: list[Chart], name: str) -> Chart:
    return next(c for c in all_charts if c.family.name == name)


def test_one_valid_png_per_family(tmp_path: Path) -> None:
    out = tmp_path / "charts"
    written = write_plots(synthetic_rows(), out, machine="a test machine", date="2026-12-05")
    assert [p.name for p in written] == [f"{name}.png" for name in FAMILIES]
    assert sorted(out.iterdir()) == sorted(written)
    for path in written:
        assert_png(path)


def test_limits_and_references_come_from_the_rows_ratios() -> None:
    drawn = charts(synthetic_rows())
    roots = chart(drawn, "log-roots")
    limit = next(s for s in roots.series if s.name == "rfc6962-sha256 hashing limit")
    assert limit.kind == "limit" and limit.xs == [2.0**12, 2.0**16, 2.0**20]
    assert limit.ys == pytest.approx([19e6] * 3)  # rate / ratio, the same at each size from both cases
    assert {s.name for s in roots.series if s.kind == "ours"} == {
        f"{suite} {case}" for suite in ("rfc6962-sha256", "blake3")
        for case in ("merkle_root", "Log.extend_hashes (every level kept)")}
    durable = chart(drawn, "log-durable")
    reference = next(s for s in durable.series if s.kind == "reference")
    mine = next(s for s in durable.series if s.kind == "ours")
    assert reference.ys == pytest.approx([y / 0.01 for y in mine.ys])
    assert [s.name for s in chart(drawn, "kt-publish").series if s.kind == "limit"] == ["VRF limit"]
    search = chart(drawn, "kt-search")  # the sizes in bytes and the row of a missing tool are not drawn
    assert all(s.ys and min(s.ys) > 0 for s in search.series) and search.series[0].xs == [1e3, 1e4, 1e5]
    assert "on disk, search: serve, reader process (warm)" in {s.name for s in search.series}


def test_monitoring_timed_over_no_labels_is_not_drawn() -> None:
    """A directory too small for the monitoring benchmark says 0 labels; its rates are timed over nothing."""
    rows = [Row(f"KEYTRANS directory, {n:,} labels", case, rate, "responses/s")
            for n, count in ((1_000, 0), (10_000, 200))
            for case, rate in ((f"contact monitor responses ({count} labels, 3 entries later)", 2e4),
                               ("contact monitor verifications", 1e4))]
    (search,) = charts(rows)
    assert [(s.name, s.xs) for s in search.series] == [("in memory, monitor: serve", [1e4]),
                                                      ("in memory, monitor: verify", [1e4])]


def test_sizes_spanning_decades_get_log_axes() -> None:
    drawn = charts(synthetic_rows())
    assert scales(chart(drawn, "log-roots")) == ("log2", "linear")  # 2^12 .. 2^20; rates within 20x
    assert scales(chart(drawn, "log-appends")) == ("log", "log")  # 10^3 .. 10^5; pymerkle to extend_hashes
    assert scales(chart(drawn, "map-builds")) == ("log", "linear")
    one_size = [r for r in synthetic_rows() if r.section == "prefix tree build, blake3"][:1]
    assert scales(charts(one_size)[0]) == ("linear", "linear")


def test_a_missing_peer_is_noted_in_the_legend_not_drawn(tmp_path: Path) -> None:
    drawn = charts(synthetic_rows(pymerkle=False))
    appends = chart(drawn, "log-appends")
    assert not any("pymerkle" in s.name for s in appends.series)
    assert appends.notes == [NO_PYMERKLE]
    assert [s.name for s in appends.series if s.kind == "peer"] == ["pure-Python hashlib reference, 100-byte entries"]
    # The Rust peers come only from benches/report.py's JSON: a plain run says so.
    assert chart(drawn, "log-proofs").notes == [f"{peer}: not in this run (python benches/report.py)"
                                               for peer in ("rs_merkle", "ct-merkle")]
    written = write_plots(synthetic_rows(pymerkle=False), tmp_path)
    assert len(written) == len(FAMILIES)
    assert_png(tmp_path / "log-appends.png")


def test_the_rust_peers_are_drawn_when_the_run_has_them() -> None:
    drawn = charts(synthetic_rows(), rust_peers=RUST_PEERS)
    roots = chart(drawn, "log-roots")
    rs = next(s for s in roots.series if s.name.startswith("rs_merkle"))
    assert rs.kind == "peer" and rs.xs == [2.0**20] and rs.ys == pytest.approx([((1 << 20) - 1) / 0.3])
    assert roots.notes == []  # ct-merkle builds from entries only: absent, not missing
    proofs = chart(drawn, "log-proofs")
    assert {s.name for s in proofs.series if s.kind == "peer"} == {
        "rs_merkle (Rust, one thread) proofs, peer_report", "ct-merkle (Rust, one thread) proofs, peer_report"}
    assert proofs.notes == []


def test_a_saved_run_is_plotted_from_its_json(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"machine": {"cpus": 2, "cpu": "Test CPU", "platform": "Linux-test"},
                               "date": "2026-12-05", "hash_limit": {}, "rows": [asdict(r) for r in synthetic_rows()],
                               "rust_peers": RUST_PEERS}))
    assert bench_main(["plot", str(run), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.png" for n in FAMILIES)
    written = plot_file(run, tmp_path / "again")
    assert_png(written[0])
    (tmp_path / "not-json").write_text("rows")
    for bad in ("no-such-run.json", "not-json"):
        assert bench_main(["plot", str(tmp_path / bad), str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_rows_of_a_real_tiny_run(tmp_path: Path) -> None:
    """Every family from real rows (about 10 s on 2 busy cores): the rows' texts still parse. (The
    directory on disk is left out: its cold pass drops the machine's page cache; its rows are above.)"""
    rows = sweep(log_exponents=(8, 12), append_sizes=(1000, 3000), proof_exponents=(8,), durable_entries=16,
                 map_sizes=(1000, 10000), map_batches=(100, 1000), kt_sizes=(300,), kt_batches=(100,),
                 kt_disk_sizes=(), searches=20)
    drawn = charts(rows)
    assert [c.family.name for c in drawn] == list(FAMILIES)
    for name in ("log-roots", "log-proofs", "map-builds", "kt-publish"):
        assert any(s.kind == "limit" for s in chart(drawn, name).series), name
    assert any(s.kind == "reference" for s in chart(drawn, "log-durable").series)
    assert len(chart(drawn, "map-builds").series[0].xs) == 2 and scales(chart(drawn, "log-roots"))[0] == "log2"
    for path in write_plots(rows, tmp_path):
        assert_png(path)


WITHOUT_MATPLOTLIB = textwrap.dedent("""
    import sys

    class WithoutMatplotlib:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "matplotlib":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, WithoutMatplotlib())
""")


def test_without_matplotlib_the_extra_is_named_before_anything_runs(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"rows": [asdict(r) for r in synthetic_rows()]}))
    code = WITHOUT_MATPLOTLIB + textwrap.dedent("""
        from veritree.bench import report
        from veritree.bench.__main__ import main
        print("report", report.run(quick=True, plot_dir=sys.argv[2]))
        print("plot", main(["plot", sys.argv[1], sys.argv[2]]))
    """)
    done = subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["report", "2", "plot", "2"]  # the report measured nothing: no table printed
    assert done.stderr.count("pip install 'veritree[plot]'") == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_report_refuses_a_plot_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    assert report.run(quick=True, plot_dir=str(taken)) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_the_docs_show_every_chart() -> None:
    """docs/charts.md shows one chart per family, each a PNG under docs/images, small enough for the repo."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    shown = re.findall(r"!\[[^\]]+\]\((images/[^)]+\.png)\)", (docs / "charts.md").read_text())
    assert shown == [f"images/{name}.png" for name in FAMILIES]
    for image in shown:
        assert_png(docs / image)
