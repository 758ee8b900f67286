"""A KEYTRANS directory in PostgreSQL (`KtDirectory.open("postgresql://...")`): one publisher at a time
holds the database's lease, readers in other processes (and on a streaming standby) answer what a verifying
client accepts, and a publisher killed at random moments is replaced by another that loses nothing it
acknowledged. CI runs these against the throwaway server `.ci/postgres` starts; elsewhere they skip.

Run as `python test_kt_postgres.py publisher URL` (publishes until killed, printing each size it
acknowledged) or `python test_kt_postgres.py reader URL SECONDS` (prints one line of JSON).
"""

from __future__ import annotations

import json
import os
import random
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import veritree
from kt_entries import LABELS, SIGNING_KEY, T0, VRF_KEY, expected, open_directory, publish

KILL_ROUNDS = int(os.environ.get("KT_PG_KILL_ROUNDS", "20"))
TAKEOVER = 20.0  # seconds a new publisher may wait for the lease of a killed one


def open_publisher(url: str, wait: float = TAKEOVER) -> veritree.KtDirectory:
    """Opens (or creates) the directory as its publisher, waiting for the lease."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return open_directory(url, create=True)
        except veritree.StorageLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def publisher(url: str) -> None:
    with open_publisher(url) as d:
        while True:
            publish(d)
            print(d.size, flush=True)
            time.sleep(0.01)


def verify_all(r: veritree.KtDirectory, client: veritree.KtClient) -> int:
    """Searches every label through `r`, each answer verified by `client` and checked against the model;
    returns the size the client ended at."""
    for u in range(LABELS):
        label = b"user%d" % u
        request = client.search_request(label)
        response = r.search(request)
        found = client.verify_search(request, response, now_ms=T0 + 1000 * (r.size - 1) + 5)
        want = expected(label, client.tree_size)
        assert want is not None and (found.version, found.value) == want, (label, client.tree_size)
    return client.tree_size


def reader(url: str, seconds: float) -> None:
    first_seen: dict[int, float] = {}
    answers = 0
    with open_directory(url, reader=True) as r:
        assert r.reader
        client = veritree.KtClient(r.config)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            first_seen.setdefault(verify_all(r, client), time.time())
            answers += LABELS
    print(json.dumps({"answers": answers, "first_seen": first_seen}), flush=True)


def spawn(*args: str) -> subprocess.Popen[str]:
    support = str(Path(__file__).resolve().parent.parent / "support")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([support, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env)


def wait_for(r: veritree.KtDirectory, size: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while r.size < size:
        assert time.monotonic() < deadline, f"still at {r.size} of {size} after {within} s"
        time.sleep(0.02)


def open_standby_reader(url: str) -> veritree.KtDirectory:
    """A reader on the standby, once the schema and the directory have replicated there."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return open_directory(url, reader=True)
        except veritree.StorageError:  # not replicated yet (NotFound, or tables still missing)
            assert time.monotonic() < deadline, "the standby never received the directory"
            time.sleep(0.05)


def test_a_publisher_and_reader_processes_share_one_database(pg_url: str) -> None:
    with open_publisher(pg_url) as d:
        assert d.path is None and not d.reader
        for _ in range(LABELS):
            publish(d)
        with pytest.raises(veritree.StorageLockedError):
            open_directory(pg_url)
        readers = [spawn("reader", pg_url, "2.5"), spawn("reader", pg_url, "2.5")]
        acknowledged = {}
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            publish(d)
            acknowledged[d.size] = time.time()
            time.sleep(0.03)
        for proc in readers:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, "a reader's answer failed verification"
            result = json.loads(out)
            seen = {int(size): at for size, at in result["first_seen"].items()}
            assert result["answers"] > 50 and len(seen) > 3, "readers answer, and see new entries"
            lags = [at - acknowledged[size] for size, at in seen.items() if size in acknowledged]
            assert lags and max(lags) < 1.0, lags


def test_a_reader_asked_past_its_head_looks_for_a_newer_one_first(pg_url: str) -> None:
    """A follower reads the database's head at most every 100 ms; a client that just saw a newer head from
    the publisher must not get "the log is behind" (which, signed, reads as a rollback): the follower looks
    for the newer publication and answers from it."""
    with open_publisher(pg_url) as d, open_directory(pg_url, reader=True) as r:
        publish(d)
        client = veritree.KtClient(d.config)
        for _ in range(5):
            publish(d)
            request = client.search_request(b"user1")
            client.verify_search(request, d.search(request), now_ms=T0 + 1000 * (d.size - 1) + 5)
            request = client.search_request(b"user0")
            client.verify_search(request, r.search(request), now_ms=T0 + 1000 * (d.size - 1) + 5)
            assert r.size == d.size


def test_a_reader_never_writes_and_a_missing_directory_is_not_made_by_one(pg_url: str) -> None:
    with pytest.raises(veritree.StorageNotFoundError):
        open_directory(pg_url, reader=True)
    with pytest.raises(veritree.StorageNotFoundError):
        open_directory(pg_url)
    with open_publisher(pg_url) as d:
        publish(d)
        with open_directory(pg_url, reader=True) as r:
            with pytest.raises(ValueError, match="reader"):
                r.stage(b"user1", b"forged")
            with pytest.raises(ValueError, match="reader"):
                r.fill_proofs()
            publish(d)
            wait_for(r, 2)
    with pytest.raises(ValueError, match="keys and options|created with|VRF"):
        open_directory(pg_url, vrf_key=bytes(32))


def test_a_publisher_that_lost_its_lease_publishes_nothing(pg_url: str) -> None:
    """The fence: a successor bumped the lease's epoch while this publisher's session still looked alive to
    it (the server had dropped it): its next publication is refused, and the database keeps the last head."""
    with open_publisher(pg_url) as d:
        publish(d)
        subprocess.run(["psql", "-X", "-q", "-d", pg_url, "-c", "UPDATE veritree_leases SET epoch = epoch + 1"],
                       check=True)
        with pytest.raises(veritree.StorageLockedError, match="lost the lease"):
            publish(d)
    with open_directory(pg_url, reader=True) as r:
        assert r.size == 1


class Racer:
    """A publisher process racing another for the lease; a thread collects the sizes it acknowledges."""

    def __init__(self, url: str) -> None:
        self.started = time.monotonic()
        self.proc = spawn("publisher", url)
        self.sizes: queue.Queue[int] = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.sizes.put(int(line))

    def acknowledged(self) -> list[int]:
        out = []
        while not self.sizes.empty():
            out.append(self.sizes.get())
        return out


def test_racing_publishers_killed_at_random_lose_nothing_acknowledged(pg_url: str) -> None:
    """Two publisher processes race for the lease all along; the one publishing is killed (SIGKILL) at a
    random moment, the other takes over within seconds, and a new racer starts. Every size a publisher
    printed (its `publish` returned) is there, and a client that verified answers all along accepts every
    later one: one history, whoever published it."""
    rng = random.Random(19)
    acknowledged = 0
    takeovers = []
    with open_publisher(pg_url) as d:
        publish(d)
    racers = [Racer(pg_url), Racer(pg_url)]
    try:
        with open_directory(pg_url, reader=True) as r:
            client = veritree.KtClient(r.config)
            for _ in range(KILL_ROUNDS):
                # The lease holder is whichever acknowledges first.
                deadline = time.monotonic() + TAKEOVER
                while not any(not x.sizes.empty() for x in racers):
                    assert time.monotonic() < deadline, "no publisher took over"
                    time.sleep(0.005)
                holder = next(x for x in racers if not x.sizes.empty())
                other = next(x for x in racers if x is not holder)
                takeovers.append(time.monotonic() - holder.started)
                assert other.sizes.empty(), "two publishers at once"
                time.sleep(rng.uniform(0.0, 0.4))
                holder.proc.send_signal(signal.SIGKILL)
                holder.proc.wait(timeout=30)
                time.sleep(0.05)  # the reading thread takes the last lines
                sizes = holder.acknowledged()
                assert sizes == sorted(sizes)
                acknowledged = max(acknowledged, *sizes)
                wait_for(r, acknowledged)
                assert verify_all(r, client) >= acknowledged
                other.started = time.monotonic()
                racers = [other, Racer(pg_url)]
    finally:
        for x in racers:
            x.proc.kill()
            x.proc.wait()
    assert max(takeovers) < TAKEOVER, takeovers


def test_a_reader_on_a_streaming_standby_follows(pg_url: str, pg_standby_url: str) -> None:
    with open_publisher(pg_url) as d:
        for _ in range(LABELS):
            publish(d)
        # The schema and the directory reach the standby by replication.
        r = open_standby_reader(pg_standby_url)
        with r:
            client = veritree.KtClient(r.config)
            for _ in range(5):
                publish(d)
            wait_for(r, d.size)
            assert verify_all(r, client) == d.size
        with pytest.raises(veritree.StorageError, match="read-only standby"):
            open_directory(pg_standby_url)


def test_a_reader_on_a_lagging_standby_refuses_rather_than_answer_from_an_older_head(
        pg_url: str, pg_standby_url: str) -> None:
    """A client that saw a newer head from the primary asks a reader whose standby has not replayed it yet
    (replay paused): the reader refuses as unavailable (HTTP 503) instead of answering that the log is
    behind with its older signed head, which the client would rightly take for a rollback; it reports the
    lag, and answers once the standby catches up."""
    with open_publisher(pg_url) as d:
        for _ in range(3):
            publish(d)
        r = open_standby_reader(pg_standby_url)
        with r:
            wait_for(r, 3)
            sql = ["psql", "-X", "-q", "-d", pg_standby_url, "-c"]
            subprocess.run([*sql, "SELECT pg_wal_replay_pause()"], check=True)
            try:
                publish(d)
                client = veritree.KtClient(d.config)
                request = client.search_request(b"user1")
                client.verify_search(request, d.search(request), now_ms=T0 + 1000 * (d.size - 1) + 5)
                request = client.search_request(b"user1")
                with pytest.raises(veritree.StorageIOError, match="replica that is behind"):
                    r.search(request)
                assert r.size == 3
            finally:
                subprocess.run([*sql, "SELECT pg_wal_replay_resume()"], check=True)
            wait_for(r, d.size)
            client.verify_search(request, r.search(request), now_ms=T0 + 1000 * (d.size - 1) + 5)


if __name__ == "__main__":
    if sys.argv[1] == "publisher":
        publisher(sys.argv[2])
    else:
        reader(sys.argv[2], float(sys.argv[3]))
