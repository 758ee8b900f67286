"""One publisher and reader processes over one on-disk KEYTRANS directory
(`KtDirectory.open(..., reader=True)`): readers answer from a published state
that a verifying client accepts, see each new entry promptly, start and stop at
any time, never write, and take no lock a publisher needs.

Run as `python test_kt_readers.py publisher DIR SECONDS` or
`python test_kt_readers.py reader DIR SECONDS`: each prints one line of JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import veritree
from kt_entries import LABELS, MAX_BEHIND, RMW, SIGNING_KEY, T0, VRF_KEY, expected, open_directory, publish, updates


def open_reader(path: Path) -> veritree.KtDirectory:
    return veritree.KtDirectory.open(path, SIGNING_KEY, VRF_KEY, reader=True, reasonable_monitoring_window=RMW,
                                     max_behind=MAX_BEHIND)


def publisher(directory: str, seconds: float) -> None:
    """Publishes entries for `seconds`; prints when each was acknowledged."""
    acknowledged = []
    with open_directory(Path(directory)) as d:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            publish(d)
            acknowledged.append((d.size, time.time()))
            time.sleep(0.02)
    print(json.dumps(acknowledged), flush=True)


def reader(directory: str, seconds: float) -> None:
    """Searches every label for `seconds`, verifying each answer against the
    entries' model; prints the sizes it answered at, and when it first saw each."""
    client: veritree.KtClient | None = None
    first_seen: dict[int, float] = {}
    answers = 0
    with open_reader(Path(directory)) as r:
        assert r.reader
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for u in range(LABELS):
                label = b"user%d" % u
                request = (client or veritree.KtClient(r.config)).search_request(label)
                response = r.search(request)
                size = r.size
                first_seen.setdefault(size, time.time())
                client = client or veritree.KtClient(r.config)
                found = client.verify_search(request, response, now_ms=T0 + 1000 * (size - 1) + 5)
                # The answer's entry count is at least the size read after it: the model at that size.
                want = expected(label, client.tree_size)
                assert want is not None and (found.version, found.value) == want, (label, client.tree_size)
                answers += 1
    print(json.dumps({"answers": answers, "first_seen": first_seen}), flush=True)


def spawn(role: str, path: Path, seconds: float) -> subprocess.Popen[str]:
    support = str(Path(__file__).resolve().parent.parent / "support")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([support, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, __file__, role, str(path), str(seconds)], stdout=subprocess.PIPE,
                            text=True, env=env)


def test_readers_in_other_processes_follow_the_publisher(tmp_path: Path) -> None:
    path = tmp_path / "kt"
    with open_directory(path, create=True) as d:
        for _ in range(LABELS):
            publish(d)
    pub = spawn("publisher", path, 3.0)
    time.sleep(0.3)
    # Two readers from the start, a third that starts late and stops early.
    readers = [spawn("reader", path, 3.0), spawn("reader", path, 3.0)]
    time.sleep(1.0)
    readers.append(spawn("reader", path, 1.0))
    out_pub, _ = pub.communicate(timeout=60)
    assert pub.returncode == 0
    acknowledged = {size: at for size, at in json.loads(out_pub)}
    assert len(acknowledged) > 20, "the publisher made progress"
    for proc in readers:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, "a reader's answer failed verification"
        seen = {int(size): at for size, at in json.loads(out)["first_seen"].items()}
        assert json.loads(out)["answers"] > 50
        assert len(seen) > 3, "a reader sees new entries as they are published"
        # Promptly: a reader's first answer at a size comes soon after the publisher acknowledged it.
        lags = [at - acknowledged[size] for size, at in seen.items() if size in acknowledged]
        assert lags and max(lags) < 1.0, lags


def test_a_reader_never_writes_and_a_second_publisher_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kt"
    with open_directory(path, create=True) as d:
        publish(d)
        with open_reader(path) as r:
            assert (r.reader, d.reader) == (True, False)
            with pytest.raises(ValueError, match="reader"):
                r.stage(b"user1", b"forged")
            with pytest.raises(ValueError, match="reader"):
                r.publish(T0 + 60_000)
            with pytest.raises(veritree.StorageLockedError):
                open_directory(path)
            with pytest.raises(ValueError, match="reader cannot create"):
                veritree.KtDirectory.open(path, SIGNING_KEY, VRF_KEY, create=True, reader=True)
            # The reader follows the publisher without being reopened.
            publish(d)
            assert r.size == d.size == 2
    with pytest.raises(veritree.StorageNotFoundError):
        open_reader(tmp_path / "none")



def test_proofs_completed_later_change_no_answer(tmp_path: Path) -> None:
    """Publishing leaves the VRF proofs' second half for `fill_proofs`; answers made before it (which
    complete a proof themselves) and after it (which read it) are the same bytes, in every process."""
    path = tmp_path / "kt"
    with open_directory(path, create=True) as d:
        for _ in range(2 * LABELS):
            publish(d)
        client = veritree.KtClient(d.config)
        requests = [client.search_request(b"user%d" % u, version) for u in range(LABELS) for version in (None, 0)]
        with open_reader(path) as r:
            before = [d.search(q) for q in requests]
            assert [r.search(q) for q in requests] == before
            assert d.fill_proofs(7) == 7
            filled = 7
            while n := d.fill_proofs():
                filled += n
            assert filled == sum(len(updates(i)) for i in range(2 * LABELS))
            assert d.fill_proofs() == 0
            assert [d.search(q) for q in requests] == before
            assert [r.search(q) for q in requests] == before
            with pytest.raises(ValueError, match="reader"):
                r.fill_proofs()


if __name__ == "__main__":
    {"publisher": publisher, "reader": reader}[sys.argv[1]](sys.argv[2], float(sys.argv[3]))
