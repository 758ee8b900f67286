"""pytest-benchmark suite for the prefix tree (`veritree.Map`) through the Python API.

    pip install '.[bench]' && python -m pytest benches/test_bench_prefix_tree.py --benchmark-group-by=group

Keys and values are random 32-byte strings as (N, 32) uint8 arrays; each
benchmark checks its result (roots, proofs) besides timing it. The peers
(jmt, monotree, sparse-merkle-tree) are compared by the Rust `map_report`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pytest
import veritree

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture
    from veritree._native import MapSuite

MAP_SUITES: tuple[MapSuite, ...] = ("keytrans-sha256", "blake3")
BUILD_KEYS = 100_000
MAP_KEYS = 1_000_000
BATCH_KEYS = 1_000
PROOF_KEYS = 255  # the most one PrefixProof answers
BATCH_ROUNDS = 30

Keys = npt.NDArray[np.uint8]
BigMap = tuple[veritree.Map, Keys, Keys]


def random_keys(n: int, seed: int) -> Keys:
    """`n` random 32-byte strings (distinct with overwhelming probability)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


@pytest.fixture(scope="module", params=MAP_SUITES)
def big_map(request: pytest.FixtureRequest) -> BigMap:
    """A 10^6-key map with its keys and values; the batch benchmark leaves it as it found it."""
    keys, values = random_keys(MAP_KEYS, 20), random_keys(MAP_KEYS, 21)
    m = veritree.Map(suite=request.param)
    m.update(keys, values)
    assert len(m) == MAP_KEYS
    return m, keys, values


def proof_request(big: BigMap, seed: int) -> tuple[Keys, list[bytes | None]]:
    """255 keys, present and absent alternating, and the value each holds (None: absent)."""
    _, keys, values = big
    rng = np.random.default_rng(seed)
    present = rng.choice(MAP_KEYS, size=(PROOF_KEYS + 1) // 2, replace=False)
    absent = random_keys(PROOF_KEYS // 2, seed + 1)
    request = np.empty((PROOF_KEYS, 32), dtype=np.uint8)
    request[0::2], request[1::2] = keys[present], absent
    held: list[bytes | None] = [None] * PROOF_KEYS
    held[0::2] = [values[i].tobytes() for i in present]
    return request, held


@pytest.mark.benchmark(group="map build, 10^5 keys")
@pytest.mark.parametrize("suite", MAP_SUITES)
def test_map_build(benchmark: BenchmarkFixture, suite: MapSuite) -> None:
    keys, values = random_keys(BUILD_KEYS, 10), random_keys(BUILD_KEYS, 11)

    def build() -> veritree.Map:
        m = veritree.Map(suite=suite)
        m.update(keys, values)
        return m

    m = benchmark(build)
    # The root depends on the key set alone: the same entries in reverse order give it too.
    other = veritree.Map(suite=suite)
    other.update(np.ascontiguousarray(keys[::-1]), np.ascontiguousarray(values[::-1]))
    assert len(m) == BUILD_KEYS
    assert m.root() == other.root() != bytes(32)
    assert m.get(keys[123].tobytes()) == values[123].tobytes()


@pytest.mark.benchmark(group="map batch, 10^3 new keys into 10^6")
def test_map_batch(benchmark: BenchmarkFixture, big_map: BigMap) -> None:
    """Only the update is timed; each round's keys are removed (and the old versions pruned) before the next."""
    m, _, _ = big_map
    root = m.root()
    seeds: Iterator[int] = iter(range(1000, 1000 + BATCH_ROUNDS + 1))
    batch: list[Keys] = []

    def take_out() -> None:
        if batch:
            m.remove(batch.pop())
            m.prune(m.version)

    def setup() -> tuple[tuple[Keys, Keys], dict[str, object]]:
        take_out()
        seed = next(seeds)
        keys, values = random_keys(BATCH_KEYS, seed), random_keys(BATCH_KEYS, seed + 10_000)
        batch.append(keys)
        return (keys, values), {}

    # pedantic is unannotated in pytest-benchmark 5.
    benchmark.pedantic(m.update, setup=setup, rounds=BATCH_ROUNDS, iterations=1)  # type: ignore[no-untyped-call]
    assert len(m) == MAP_KEYS + BATCH_KEYS
    assert m.get(batch[0][0].tobytes()) is not None
    take_out()
    assert len(m) == MAP_KEYS
    assert m.root() == root


@pytest.mark.benchmark(group="map prove, 255 keys on 10^6")
def test_map_prove(benchmark: BenchmarkFixture, big_map: BigMap) -> None:
    m, _, _ = big_map
    keys, held = proof_request(big_map, 30)
    proof = benchmark(m.prove, keys)
    veritree.verify_prefix_proof(m.root(), keys, held, proof, suite=m.suite)


@pytest.mark.benchmark(group="map verify, 255 keys on 10^6")
def test_map_verify(benchmark: BenchmarkFixture, big_map: BigMap) -> None:
    m, _, _ = big_map
    keys, held = proof_request(big_map, 40)
    proof, root = m.prove(keys), m.root()
    benchmark(veritree.verify_prefix_proof, root, keys, held, proof, suite=m.suite)
    wrong = list(held)
    wrong[0] = None  # a present key claimed absent
    with pytest.raises(veritree.VerificationError):
        veritree.verify_prefix_proof(root, keys, wrong, proof, suite=m.suite)
