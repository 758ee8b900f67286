"""pytest-benchmark suite for the Python API, with pymerkle beside it.

    pip install '.[bench]' && python -m pytest benches/test_bench_log.py --benchmark-group-by=group

Compare rows within a group; `python benches/report.py` prints the same-run
ratios against the hashing limit and the peers.
"""

from __future__ import annotations

import numpy as np
import pytest
import veritree

N_ENTRIES = 20_000
LOG_EXP = 20


@pytest.fixture(scope="module")
def entries() -> list[bytes]:
    blob = np.random.default_rng(7).bytes(N_ENTRIES * 100)
    return [blob[i * 100:(i + 1) * 100] for i in range(N_ENTRIES)]


@pytest.fixture(scope="module", params=veritree.SUITES)
def big_log(request: pytest.FixtureRequest) -> tuple[veritree.Log, np.ndarray]:
    hashes = np.random.default_rng(8).integers(0, 256, size=(1 << LOG_EXP, 32), dtype=np.uint8)
    log = veritree.Log(request.param)
    log.extend_hashes(hashes)
    return log, hashes


@pytest.mark.benchmark(group="append 20k x 100 B, SHA-256")
def test_veritree_extend(benchmark, entries: list[bytes]) -> None:
    benchmark(lambda: veritree.Log().extend(entries))


@pytest.mark.benchmark(group="append 20k x 100 B, SHA-256")
def test_veritree_append_loop(benchmark, entries: list[bytes]) -> None:
    def run() -> None:
        log = veritree.Log()
        for e in entries:
            log.append(e)

    benchmark(run)


@pytest.mark.benchmark(group="append 20k x 100 B, SHA-256")
def test_pymerkle_append_loop(benchmark, entries: list[bytes]) -> None:
    pymerkle = pytest.importorskip("pymerkle")

    def run() -> bytes:
        tree = pymerkle.InmemoryTree(algorithm="sha256")
        for e in entries:
            tree.append_entry(e)
        return tree.get_root()

    root = benchmark.pedantic(run, rounds=1, iterations=1)
    log = veritree.Log()
    log.extend(entries)
    assert root == log.root()


@pytest.mark.benchmark(group="root over 2^20 leaf hashes")
@pytest.mark.parametrize("suite", veritree.SUITES)
def test_merkle_root(benchmark, suite: str) -> None:
    hashes = np.random.default_rng(9).integers(0, 256, size=(1 << 20, 32), dtype=np.uint8)
    benchmark(veritree.merkle_root, hashes, suite)


@pytest.mark.benchmark(group="10k inclusion proofs on a 2^20 log")
def test_inclusion_proofs(benchmark, big_log) -> None:
    log, _ = big_log
    idx = np.random.default_rng(10).integers(0, len(log), size=10_000, dtype=np.uint64)
    benchmark(log.inclusion_proofs, idx)


@pytest.mark.benchmark(group="10k inclusion verifications on a 2^20 log")
def test_verify_inclusions(benchmark, big_log) -> None:
    log, hashes = big_log
    idx = np.random.default_rng(11).integers(0, len(log), size=10_000, dtype=np.uint64)
    nodes, offsets = log.inclusion_proofs(idx)
    ok = benchmark(veritree.verify_inclusions, idx, len(log), hashes[idx], nodes, offsets, log.root(), log.suite)
    assert ok.all()


@pytest.mark.benchmark(group="batch proof of 1024 leaves on a 2^20 log")
def test_batch_proof_verify(benchmark, big_log) -> None:
    log, hashes = big_log
    idx = np.unique(np.random.default_rng(12).integers(0, len(log), size=1024, dtype=np.uint64))
    proof = log.batch_inclusion_proof(idx)
    benchmark(veritree.verify_batch_inclusion, idx, len(log), hashes[idx], proof, log.root(), log.suite)
