"""An on-disk veritree.Map whose node files are damaged never panics or hangs.

Random bytes of the `branches`, `cherries` and `leaves` files are damaged
(child references, kind tags, leaf slots, depth bytes, hashes, keys, values),
then the map is reopened and read and written: every call either answers or
raises StorageError / VerificationError / ValueError, never
`pyo3_runtime.PanicException`; and a proof served from damaged nodes never
verifies, against the version's root, a value other than the one written.

The trials run in a child process with a deadline, so a walk that never
ends, or a crash (a stack overflow aborts the process), fails the test
instead of hanging or killing pytest.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import veritree

T = TypeVar("T")

ALLOWED = (veritree.StorageError, veritree.VerificationError, ValueError)
NODE_FILES = ("branches", "cherries", "leaves")
#: Record sizes of the node files, and where a record's references and depth lie.
BRANCH, CHERRY, LEAF = 45, 9, 64
BRANCH_FIELDS = (32, 36, 40)  # left, right (u32 node references), rep (u32 leaf slot); depth byte at 44
CHERRY_FIELDS = (0, 4)  # left, right (u32 leaf slots); depth byte at 8


def _key(rng: random.Random, narrow: bool) -> bytes:
    """A random key; narrow ones share long prefixes, so the tree has chains and deep cherries."""
    if narrow:  # even last bytes: no two keys differ in the last bit alone (leaves at depth 256 have no proofs)
        return bytes([rng.randrange(8)]) + bytes(30) + bytes([rng.randrange(0, 256, 2)])
    return rng.randbytes(32)


def _build(path: Path, rng: random.Random) -> list[dict[bytes, bytes]]:
    """Writes three versions; returns the contents of each, version 0 first."""
    history: list[dict[bytes, bytes]] = [{}]
    with veritree.Map.open(path, create=True) as m:
        first = {_key(rng, i % 3 == 0): rng.randbytes(32) for i in range(400)}
        m.update(list(first), list(first.values()))
        history.append(dict(first))
        changed = {k: rng.randbytes(32) for k in list(first)[::5]}
        changed.update({_key(rng, False): rng.randbytes(32) for _ in range(60)})
        m.update(list(changed), list(changed.values()))
        history.append({**first, **changed})
        gone = list(history[-1])[::11]
        m.remove(gone)
        history.append({k: v for k, v in history[-1].items() if k not in gone})
        assert m.version == 3
    return history


def _damage(path: Path, rng: random.Random) -> str:
    """Damages one to three places of the node files; says what it did."""
    done = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(NODE_FILES)
        f = path / name
        data = bytearray(f.read_bytes())
        size = {"branches": BRANCH, "cherries": CHERRY, "leaves": LEAF}[name]
        records = max(1, len(data.rstrip(b"\0")) // size)  # the file's spare room past the records is zeros
        at = rng.randrange(records) * size
        how = rng.random()
        if name == "leaves" or how < 0.3:
            at += rng.randrange(size)
            data[at] ^= rng.randrange(1, 256)
            done.append(f"{name}@{at} ^= byte")
        elif how < 0.55:  # the depth byte: backwards, to zero, or to the top
            at += size - 1
            data[at] = rng.choice([0, 255, max(0, data[at] - rng.randint(1, 3)), min(255, data[at] + 1)])
            done.append(f"{name}@{at} depth = {data[at]}")
        else:  # a reference: past the end, another kind, the unused tag, empty, or another node (a cycle)
            at += rng.choice(BRANCH_FIELDS if name == "branches" else CHERRY_FIELDS)
            value = rng.choice(
                [
                    rng.getrandbits(32),
                    (rng.randrange(4) << 30) | rng.randrange(records + 4),
                    0xFFFFFFFF,
                    0xC0000000 | rng.randrange(records),
                    rng.randrange(records + 4),
                ]
            )
            data[at : at + 4] = value.to_bytes(4, "little")
            done.append(f"{name}@{at} = {value:#010x}")
        f.write_bytes(bytes(data))
    return ", ".join(done)


def _exercise(path: Path, history: list[dict[bytes, bytes]], rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """Reads and writes the damaged map. Returns what went wrong, and counts of the errors raised."""
    problems: list[str] = []
    seen: dict[str, int] = {}

    def call(what: str, f: Callable[[], T]) -> T | None:
        try:
            return f()
        except BaseException as e:  # noqa: BLE001 - a PanicException is a BaseException
            if not isinstance(e, ALLOWED):
                problems.append(f"{what}: {type(e).__module__}.{type(e).__name__}: {e}")
            name = f"{what}: {type(e).__name__}"
            seen[name] = seen.get(name, 0) + 1
            return None

    m = call("open", lambda: veritree.Map.open(path))
    if m is None:
        return problems, seen
    with m:
        latest = dict(history[-1])
        probes = list(dict.fromkeys(list(latest)[::3] + [_key(rng, True) for _ in range(20)]))
        for v in (3, 2):
            root = call("root", partial(m.root, v))
            call("count", partial(m.count, v))
            if call("check", partial(m.check, v)) is not None:
                seen["check passed"] = seen.get("check passed", 0) + 1
            for k in probes:
                got = call("get", partial(m.get, k, v))
                proof = call("prove", partial(m.prove, [k], v))
                if proof is None or root is None:
                    continue
                # Sound even on damaged nodes: what verifies against the root is what was written.
                try:
                    veritree.verify_prefix_proof(root, [k], [got], proof)
                except veritree.VerificationError:
                    continue
                if got != history[v].get(k):
                    problems.append(f"v{v}: a proof verified {got!r} for a key that holds {history[v].get(k)!r}")
            for i in range(0, len(probes), 40):
                call("prove many", partial(m.prove, probes[i : i + 40], v))
        new = {k: rng.randbytes(32) for k in probes[:10] + [_key(rng, False) for _ in range(10)]}
        if call("update", lambda: m.update(list(new), list(new.values()))) is not None:
            latest.update(new)
        call("remove", lambda: m.remove(list(latest)[1::17]))
        call("prune", lambda: m.prune(m.version))
        for k in probes[:30]:
            call("get after writes", partial(m.get, k))
        call("prove after writes", lambda: m.prove(probes[:30]))
        call("check after writes", m.check)
    return problems, seen


def run_trials(workdir: Path, seed: int, trials: int) -> dict[str, object]:
    rng = random.Random(seed)
    pristine = workdir / "pristine"
    history = _build(pristine, rng)
    problems: list[str] = []
    seen: dict[str, int] = {}
    for t in range(trials):
        path = workdir / f"trial{t}"
        shutil.copytree(pristine, path)
        what = _damage(path, rng)
        p, s = _exercise(path, history, rng)
        problems += [f"trial {t} ({what}): {x}" for x in p]
        for k, n in s.items():
            seen[k] = seen.get(k, 0) + n
        shutil.rmtree(path)
    return {"problems": problems, "seen": seen}


def test_damaged_node_files_raise_veritree_errors_never_panics_or_hangs(tmp_path: Path) -> None:
    trials = 120
    out = subprocess.run(
        [sys.executable, __file__, str(tmp_path), "20250601", str(trials)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,  # a walk that never ends fails here
    )
    # A non-zero status without a report: the child crashed (a stack overflow aborts).
    assert out.returncode == 0, out.stderr[-4000:]
    report = json.loads(out.stdout)
    assert report["problems"] == [], "\n".join(report["problems"][:20])
    seen = report["seen"]
    # The damage was seen: most checks fail (two versions a trial), and the walks raise StorageDamagedError.
    assert seen.get("check: StorageDamagedError", 0) > trials
    for call in ("get", "prove", "update", "remove"):
        assert seen.get(f"{call}: StorageDamagedError", 0) > 0, call


if __name__ == "__main__":  # the child process of the test above
    _, workdir, seed, trials = sys.argv
    print(json.dumps(run_trials(Path(workdir), int(seed), int(trials))))
