"""The IETF KEYTRANS log (`KtDirectory`) and its verifying client (`KtClient`).

Honest runs must verify and return what was staged (checked against a plain
reference model, also under random interleavings); forged, tampered, forked,
rolled-back, stale and future responses must be refused without touching the
client's state; hostile requests must be refused with ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

T0 = 1_700_000_000_000  # ms since the epoch of the first entry
RMW = 10_000  # the reasonable monitoring window used throughout, ms
SIGNING_KEY = bytes(range(32))
VRF_KEY = bytes(range(32, 64))
REJECTED = (veritree.VerificationError, ValueError)
LABELS = [b"alice", b"bob", b"carol"]

Verify = Callable[..., object]


@dataclass
class Log:
    """A directory and the reference model of what it published."""

    d: veritree.KtDirectory
    values: dict[bytes, list[bytes]] = field(default_factory=dict)
    timestamps: list[int] = field(default_factory=list)

    @property
    def now(self) -> int:
        """A client clock a few ms after the newest entry."""
        return self.timestamps[-1] + 5

    def publish(self, updates: Iterable[tuple[bytes, bytes]] = (), step: int = 1_000) -> int:
        """Stages `updates` (label, value) and publishes them as one entry, `step` ms after the last."""
        for label, value in updates:
            assert self.d.stage(label, value) == len(self.values.setdefault(label, []))
            self.values[label].append(value)
        ts = self.timestamps[-1] + step if self.timestamps else T0
        index = self.d.publish(ts)
        assert index == len(self.timestamps)
        self.timestamps.append(ts)
        return index


def new_log(**config: int) -> Log:
    config.setdefault("reasonable_monitoring_window", RMW)
    return Log(veritree.KtDirectory(SIGNING_KEY, VRF_KEY, **config))


def grow(log: Log, entries: int, labels: list[bytes] = LABELS) -> None:
    """Publishes `entries` entries one second apart; entry i updates the first i % len + 1 labels once each."""
    for _ in range(entries):
        i = len(log.timestamps)
        log.publish((label, b"%s#%d" % (label, i)) for label in labels[: i % len(labels) + 1])


def search(c: veritree.KtClient, log: Log, label: bytes, version: int | None = None) -> veritree.KtFound:
    request = c.search_request(label, version)
    return c.verify_search(request, log.d.search(request), now_ms=log.now)


def monitor(c: veritree.KtClient, log: Log, label: bytes) -> None:
    request = c.monitor_request(label)
    c.verify_monitor(request, log.d.monitor(request), now_ms=log.now)


def distinguished(c: veritree.KtClient, log: Log, stop: int | None = None) -> list[tuple[int, int]]:
    request = c.distinguished_request(stop)
    return c.verify_distinguished(request, log.d.distinguished(request), now_ms=log.now)


def check_found(found: veritree.KtFound, c: veritree.KtClient, log: Log, label: bytes, version: int) -> None:
    assert found.version == version
    assert found.value == log.values[label][version]
    assert 0 <= found.position < log.d.size == c.tree_size
    assert (label in c.monitored_labels) or not found.monitored


def assert_rejected(c: veritree.KtClient, verify: Verify, request: bytes, response: bytes, now: int,
                    error: type[Exception] | tuple[type[Exception], ...] = REJECTED) -> None:
    """`verify` refuses the response and leaves the client's state as it was."""
    before = c.save()
    with pytest.raises(error):
        verify(request, response, now_ms=now)
    assert c.save() == before


def binary_ladder(t: int) -> list[int]:
    """The draft's binary ladder for target version `t`: 2^k - 1 up past `t`, then a binary search."""
    out = [0]
    while out[-1] <= t:
        out.append(2 * out[-1] + 1)
    lower, upper = out[-2], out[-1]
    while lower + 1 < upper:
        mid = (lower + upper) // 2
        out.append(mid)
        lower, upper = (mid, upper) if mid <= t else (lower, mid)
    return out


def ladder_commitments(response: bytes, target: int) -> dict[int, int]:
    """Where a fixed-version SearchResponse's ladder commitments start: version -> offset."""
    pos = 1 if response[0] == 1 else 9 + 2 + int.from_bytes(response[9:11], "big")  # the FullTreeHead
    pos += 16  # the opening
    pos += 4 + int.from_bytes(response[pos : pos + 4], "big")
    assert response[pos] == len(binary_ladder(target))
    pos += 1
    out: dict[int, int] = {}
    for v in binary_ladder(target):
        pos += 80  # the VRF proof
        present, pos = response[pos], pos + 1
        if present:
            out[v] = pos
            pos += 32
    return out


def unchecked_commitments(response: bytes, target: int) -> set[int]:
    """The bytes of a fixed-version SearchResponse's commitments to versions above `target`.

    The search need not look those versions up anywhere and the client never
    retains them, so the draft gives it no way to check them.
    """
    starts = ladder_commitments(response, target)
    return {i for v, at in starts.items() if v > target for i in range(at, at + 32)}


def flipped(response: bytes, skip: set[int], every_bit: bool) -> Iterator[bytes]:
    """The response with one bit flipped: every bit, or one per byte (rotating with the offset)."""
    for i in range(len(response)):
        for bit in range(8) if every_bit else [i * 3 % 8]:
            if i not in skip:
                b = bytearray(response)
                b[i] ^= 1 << bit
                yield bytes(b)


def mangled(response: bytes) -> Iterator[bytes]:
    """Every truncation of the response, and the response with bytes appended."""
    for cut in range(len(response)):
        yield response[:cut]
    for tail in (b"\x00", b"\x01", b"\xff" * 7, response):
        yield response + tail


# 1. Honest end to end.


def test_honest_log_end_to_end() -> None:
    log = new_log()
    c = veritree.KtClient(log.d.config)
    for _ in range(6):
        grow(log, 10)
        for label in LABELS:
            assert log.d.greatest_version(label) == len(log.values[label]) - 1
            check_found(search(c, log, label), c, log, label, len(log.values[label]) - 1)
    assert log.d.size == c.tree_size == 60
    assert log.d.greatest_version(b"dave") is None
    fresh = veritree.KtClient(log.d.config)
    for label, values in log.values.items():
        for version in range(len(values)):
            check_found(search(fresh, log, label, version), fresh, log, label, version)
            check_found(search(c, log, label, version), c, log, label, version)
    walk = distinguished(c, log)
    assert 0 < len(walk) <= 4
    assert walk == sorted(walk) and all(log.timestamps[x] == t for x, t in walk)


def test_monitoring_follows_the_rightmost_distinguished_entry_and_ends() -> None:
    log = new_log()
    log.publish([(b"old", b"o0")])
    grow(log, 40, [b"filler"])
    log.publish([(b"new", b"n0")])
    c = veritree.KtClient(log.d.config)
    rightmost = distinguished(c, log)[-1][0]
    for label in (b"old", b"new"):
        found = search(c, log, label)
        assert found.monitored == (found.position > rightmost)
        assert found.monitored == (label in c.monitored_labels)
    assert c.monitored_labels == [b"new"]
    with pytest.raises(ValueError):
        c.monitor_request(b"old")
    rounds = 0
    while c.monitored_labels:
        log.publish(step=RMW // 2)
        monitor(c, log, b"new")
        rounds += 1
        assert rounds <= 50, "monitoring never ended"  # 25 windows
    with pytest.raises(ValueError):
        c.monitor_request(b"new")
    check_found(search(c, log, b"new", 0), c, log, b"new", 0)


# 2. Random interleavings against the reference model.


class KtMachine(RuleBasedStateMachine):
    """A growing directory and three clients; every honest answer must verify and match the model."""

    def __init__(self) -> None:
        super().__init__()
        self.log = new_log()
        self.clients = [veritree.KtClient(self.log.d.config) for _ in range(3)]
        self.searched: list[set[bytes]] = [set() for _ in self.clients]

    @rule(labels=st.lists(st.sampled_from(LABELS), max_size=4), tag=st.binary(max_size=4),
          step=st.sampled_from([0, 1, 700, RMW // 3, RMW, 4 * RMW]))
    def publish(self, labels: list[bytes], tag: bytes, step: int) -> None:
        n = len(self.log.timestamps)
        self.log.publish([(label, b"%d.%d:%s" % (n, i, tag)) for i, label in enumerate(labels)], step)

    @precondition(lambda self: self.log.timestamps)
    @rule(who=st.integers(0, 2), label=st.sampled_from(LABELS), data=st.data())
    def search(self, who: int, label: bytes, data: st.DataObject) -> None:
        c, values = self.clients[who], self.log.values.get(label, [])
        if not values:
            with pytest.raises(ValueError):
                self.log.d.search(c.search_request(label))
            return
        version = data.draw(st.none() | st.integers(0, len(values)))
        if version == len(values):
            with pytest.raises(ValueError):
                self.log.d.search(c.search_request(label, version))
            return
        found = search(c, self.log, label, version)
        check_found(found, c, self.log, label, len(values) - 1 if version is None else version)
        self.searched[who].add(label)

    @precondition(lambda self: any(c.monitored_labels for c in self.clients))
    @rule(data=st.data())
    def monitor(self, data: st.DataObject) -> None:
        c = data.draw(st.sampled_from([c for c in self.clients if c.monitored_labels]))
        monitor(c, self.log, data.draw(st.sampled_from(c.monitored_labels)))
        assert c.tree_size == self.log.d.size

    @precondition(lambda self: self.log.timestamps)
    @rule(who=st.integers(0, 2), data=st.data())
    def walk_distinguished(self, who: int, data: st.DataObject) -> None:
        stop = data.draw(st.none() | st.integers(0, self.log.d.size - 1))
        walk = distinguished(self.clients[who], self.log, stop)
        assert len(walk) <= 4 and [x for x, _ in walk] == sorted({x for x, _ in walk})
        assert all((stop is None or x > stop) and self.log.timestamps[x] == t for x, t in walk)
        assert self.clients[who].tree_size == self.log.d.size

    @rule(who=st.integers(0, 2))
    def save_and_restore(self, who: int) -> None:
        c = self.clients[who]
        self.clients[who] = veritree.KtClient.restore(c.save())
        assert (self.clients[who].tree_size, self.clients[who].monitored_labels) == (c.tree_size, c.monitored_labels)

    @invariant()
    def clients_monitor_only_what_they_looked_up(self) -> None:
        for c, searched in zip(self.clients, self.searched):
            assert set(c.monitored_labels) <= searched
            assert c.tree_size <= self.log.d.size


TestKtMachine = KtMachine.TestCase
TestKtMachine.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


# 3. Tampered responses.


@dataclass
class Exchange:
    """A pending request of `client`, the log's honest answer, and what of it may go unchecked."""

    kind: str  # search, monitor or distinguished
    client: veritree.KtClient
    request: bytes
    response: bytes
    now: int
    skip: set[int] = field(default_factory=set)

    @property
    def verifier(self) -> Verify:
        verify: Verify = getattr(self.client, f"verify_{self.kind}")
        return verify


@pytest.fixture(scope="module")
def exchanges() -> dict[str, Exchange]:
    """Search, monitor and distinguished exchanges from first views, older views and the current one."""
    log = new_log()
    grow(log, 14)
    behind = veritree.KtClient(log.d.config)
    search(behind, log, b"alice")
    grow(log, 10)
    current = veritree.KtClient.restore(behind.save())
    search(current, log, b"bob")
    assert behind.tree_size == 14 and current.tree_size == 24 == log.d.size
    assert behind.monitored_labels == [b"alice"]

    def exchange(kind: str, c: veritree.KtClient, *args: object) -> Exchange:
        request = getattr(c, f"{kind}_request")(*args)
        return Exchange(kind, c, request, getattr(log.d, kind)(request), log.now)

    out = {
        "first search": exchange("search", veritree.KtClient(log.d.config), b"carol"),
        "search": exchange("search", behind, b"alice"),
        "same-head search": exchange("search", current, b"carol"),
        "monitor": exchange("monitor", behind, b"alice"),
        "first distinguished": exchange("distinguished", veritree.KtClient(log.d.config), None),
        "distinguished": exchange("distinguished", behind, 3),
    }
    for t in (0, 3, 6, len(log.values[b"alice"]) - 1):
        e = out[f"fixed search {t}"] = exchange("search", veritree.KtClient.restore(behind.save()), b"alice", t)
        e.skip = unchecked_commitments(e.response, t)
    for e in out.values():  # the honest answers verify (on a copy, so that the requests stay current)
        copy = veritree.KtClient.restore(e.client.save())
        getattr(copy, f"verify_{e.kind}")(e.request, e.response, now_ms=e.now)
    return out


# A search answer costs about a millisecond to verify (VRF proofs): one flip
# per byte for those, every bit for the cheaper ones. Random flips reach the rest.
@pytest.mark.parametrize("name, every_bit", [
    ("first search", False), ("search", False), ("same-head search", False), ("fixed search 6", False),
    ("monitor", True), ("distinguished", True), ("first distinguished", True),
])
def test_flipped_bits_are_rejected(exchanges: dict[str, Exchange], name: str, every_bit: bool) -> None:
    e = exchanges[name]
    for bad in flipped(e.response, e.skip, every_bit):
        assert_rejected(e.client, e.verifier, e.request, bad, e.now)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_bit_flips_are_rejected(exchanges: dict[str, Exchange], data: st.DataObject) -> None:
    e = exchanges[data.draw(st.sampled_from(sorted(exchanges)))]
    offset = data.draw(st.integers(0, len(e.response) - 1).filter(lambda i: i not in e.skip))
    bad = bytearray(e.response)
    bad[offset] ^= 1 << data.draw(st.integers(0, 7))
    assert_rejected(e.client, e.verifier, e.request, bytes(bad), e.now)


def test_truncated_and_padded_responses_are_rejected(exchanges: dict[str, Exchange]) -> None:
    for e in exchanges.values():
        for bad in mangled(e.response):
            assert_rejected(e.client, e.verifier, e.request, bad, e.now)


def test_an_unchecked_ladder_commitment_is_caught_at_the_first_monitoring() -> None:
    # Versions 0..7 of a label land in one entry, right of the rightmost
    # distinguished one. A fixed-version search for 6 looks up 0, 1, 3, 7
    # there (7 present ends the ladder), never 5; yet 5 is in the monitoring
    # ladder of 6, and a ContactMonitorResponse carries no commitments, so the
    # client keeps the search response's commitment to 5 unchecked (as the
    # draft has it). A wrong one is caught when monitoring first uses it.
    log = new_log()
    grow(log, 20, [b"other"])
    log.publish((b"L", b"v%d" % v) for v in range(8))
    grow(log, 3, [b"other"])
    c = veritree.KtClient(log.d.config)
    request = c.search_request(b"L", 6)
    response = bytearray(log.d.search(request))
    response[ladder_commitments(bytes(response), 6)[5]] ^= 1
    assert c.verify_search(request, bytes(response), now_ms=log.now).version == 6
    assert c.monitored_labels == [b"L"]
    with pytest.raises(veritree.VerificationError):
        monitor(c, log, b"L")


# 4. Forks and rollbacks.


def test_a_fork_from_the_same_keys_is_rejected() -> None:
    logs = [new_log(), new_log()]  # the same keys; the fork shows another first version of alice
    for log, first in zip(logs, (b"alice's keys", b"the fork's keys")):
        log.publish([(b"alice", first)])
        grow(log, 9)
    assert logs[0].d.config == logs[1].d.config
    ours, fork = logs
    a = veritree.KtClient(ours.d.config)
    search(a, ours, b"alice")
    b = veritree.KtClient(fork.d.config)
    search(b, fork, b"alice")  # the fork is well formed on its own
    calls = [("search", (b"bob",)), ("search", (b"alice", 1)), ("distinguished", (None,))]
    # At the client's size (same-head answers), then beyond it, with monitoring
    # (at the same size there is nothing to monitor: both logs answer alike).
    for extra in ([], [("monitor", (b"alice",))]):
        if extra:
            for log in logs:
                grow(log, 5)
        for kind, args in calls + extra:
            request = getattr(a, f"{kind}_request")(*args)
            forged = getattr(fork.d, kind)(request)
            assert forged != getattr(ours.d, kind)(request)
            assert_rejected(a, getattr(a, f"verify_{kind}"), request, forged, fork.now, veritree.VerificationError)
        check_found(search(a, ours, b"bob"), a, ours, b"bob", len(ours.values[b"bob"]) - 1)


def test_an_older_tree_is_rejected_after_a_newer_one() -> None:
    log = new_log()
    grow(log, 10)
    c = veritree.KtClient(log.d.config)
    search(c, log, b"alice")
    at_15 = veritree.KtClient.restore(c.save())
    grow(log, 5)
    request = veritree.KtClient.restore(c.save()).search_request(b"alice")
    updated_to_15 = log.d.search(request)  # a new head of 15 entries, for a user at 10
    search(at_15, log, b"alice")
    same_at_15 = log.d.search(at_15.search_request(b"alice"))  # "same head", proven in the tree of 15
    grow(log, 5)
    search(c, log, b"alice")
    assert c.tree_size == 20
    for old in (updated_to_15, same_at_15):
        assert_rejected(c, c.verify_search, c.search_request(b"alice"), old, log.now, veritree.VerificationError)
    # Paired with the request it answered, the rolled-back answer is not for this client's view.
    assert_rejected(c, c.verify_search, request, updated_to_15, log.now, ValueError)
    check_found(search(c, log, b"alice"), c, log, b"alice", len(log.values[b"alice"]) - 1)


def test_requests_must_come_from_the_current_view() -> None:
    log = new_log()
    grow(log, 6)
    c = veritree.KtClient(log.d.config)
    search(c, log, b"alice")
    old = c.search_request(b"bob")
    grow(log, 2)
    search(c, log, b"alice")
    response = log.d.search(old)
    assert_rejected(c, c.verify_search, old, response, log.now, ValueError)


# 5. Stale and future trees.


def test_the_newest_entry_must_be_near_the_clients_clock() -> None:
    log = new_log(max_ahead=5_000, max_behind=100_000)
    grow(log, 5)
    c = veritree.KtClient(log.d.config)
    newest = log.timestamps[-1]
    request = c.search_request(b"alice")
    response = log.d.search(request)
    for now in (newest + 100_001, newest + 10**9):  # a stale tree: the log's doing (or a clock far ahead)
        assert_rejected(c, c.verify_search, request, response, now, veritree.VerificationError)
    for now in (newest - 5_001, newest - 10**9, 0):  # the log ahead of the clock: the clock's doing
        assert_rejected(c, c.verify_search, request, response, now, veritree.ClockError)
    for now in (newest + 100_000, newest - 5_000):  # the bounds themselves pass
        copy = veritree.KtClient.restore(c.save())
        copy.verify_search(request, response, now_ms=now)
    grow(log, 1)
    request = c.distinguished_request()
    response = log.d.distinguished(request)
    assert_rejected(c, c.verify_distinguished, request, response, log.timestamps[-1] + 100_001,
                    veritree.VerificationError)
    c.verify_distinguished(request, response, now_ms=log.now)


# 6. Hostile requests.


def search_request(label: bytes, version: int | None = None, last: int | None = None) -> bytes:
    """A SearchRequest, encoded by hand."""
    return (optional_u64(last) + bytes([len(label)]) + label
            + (b"\x00" if version is None else b"\x01" + version.to_bytes(4, "big")))


def monitor_request(label: bytes, entries: list[tuple[int, int]], last: int | None = None) -> bytes:
    """A ContactMonitorRequest, encoded by hand."""
    body = b"".join(p.to_bytes(8, "big") + v.to_bytes(4, "big") for p, v in entries)
    return optional_u64(last) + bytes([len(label)]) + label + bytes([len(entries)]) + body


def optional_u64(x: int | None) -> bytes:
    return b"\x00" if x is None else b"\x01" + x.to_bytes(8, "big")


@pytest.fixture(scope="module")
def served() -> Log:
    log = new_log()
    grow(log, 12)
    return log


SMALL_OR_ANY = st.integers(0, 20) | st.integers(0, 2**64 - 1)
REQUESTS = (st.binary(max_size=64)
            | st.builds(search_request, st.sampled_from([*LABELS, b"", b"dave"]),
                        st.none() | st.integers(0, 20) | st.integers(0, 2**32 - 1), st.none() | SMALL_OR_ANY)
            | st.builds(monitor_request, st.sampled_from([*LABELS, b"dave"]),
                        st.lists(st.tuples(SMALL_OR_ANY, st.integers(0, 20) | st.integers(0, 2**32 - 1)), max_size=4),
                        st.none() | SMALL_OR_ANY)
            | st.builds(lambda last, stop: optional_u64(last) + optional_u64(stop), st.none() | SMALL_OR_ANY,
                        st.none() | SMALL_OR_ANY))


@settings(max_examples=300, deadline=None)
@given(endpoint=st.sampled_from(["search", "monitor", "distinguished"]), request=REQUESTS)
def test_random_requests_are_answered_or_refused_with_value_error(served: Log, endpoint: str, request: bytes) -> None:
    try:
        assert isinstance(getattr(served.d, endpoint)(request), bytes)
    except ValueError:
        pass


def test_malformed_requests_are_refused(served: Log) -> None:
    c = veritree.KtClient(served.d.config)
    search(c, served, b"carol")
    assert b"carol" in c.monitored_labels
    for endpoint, request in [("search", c.search_request(b"alice", 2)), ("monitor", c.monitor_request(b"carol")),
                              ("distinguished", c.distinguished_request(3))]:
        answer = getattr(served.d, endpoint)
        answer(request)
        for bad in mangled(request):
            with pytest.raises(ValueError):
                answer(bad)


def test_requests_for_what_the_log_lacks_are_refused(served: Log) -> None:
    size, versions = served.d.size, len(served.values[b"alice"])
    for request in [search_request(b"dave"), search_request(b"alice", versions), search_request(b"alice", 2**32 - 1),
                    search_request(b"alice", last=size + 1), search_request(b"alice", last=0)]:
        with pytest.raises(ValueError):
            served.d.search(request)
    for request in [optional_u64(size + 1) + b"\x00", b"\x01" + bytes(8) + b"\x00"]:
        with pytest.raises(ValueError):
            served.d.distinguished(request)
    # A real client of a longer log with the same keys claims more than this one has.
    longer = new_log()
    grow(longer, size + 3)
    c = veritree.KtClient(longer.d.config)
    search(c, longer, b"alice")
    for endpoint, request in [("search", c.search_request(b"alice")), ("monitor", c.monitor_request(b"alice")),
                              ("distinguished", c.distinguished_request())]:
        with pytest.raises(ValueError):
            getattr(served.d, endpoint)(request)
    with pytest.raises(ValueError):
        new_log().d.search(search_request(b"alice"))  # an empty log answers nothing


def test_monitoring_maps_that_break_the_rules_are_refused(served: Log) -> None:
    # Alice's version v is added by entry v; in the implicit tree of 12
    # entries, 7 is the root, 3 its left child, and 2 lies below 3.
    n, versions = served.d.size, len(served.values[b"alice"])
    assert isinstance(served.d.monitor(monitor_request(b"alice", [(3, 2), (7, 3)], last=n)), bytes)
    for entries in [[(7, 3), (3, 2)],  # positions not ascending
                    [(3, 3), (7, 3)],  # a repeated version
                    [(4, 3)],  # not on the direct path of the version's entry
                    [(n, 3)],  # past the log
                    [(3, versions)]]:  # no such version
        with pytest.raises(ValueError):
            served.d.monitor(monitor_request(b"alice", entries, last=n))
    with pytest.raises(ValueError):
        served.d.monitor(monitor_request(b"dave", [], last=n))


# 7. Maximum lifetime.


@pytest.fixture(scope="module")
def lifetime_log() -> Log:
    """A log with a maximum lifetime of 3 RMW and 200 entries, one per second."""
    log = new_log(maximum_lifetime=3 * RMW)
    log.publish([(b"quiet", b"q0"), (b"busy", b"b0")])
    for i in range(1, 200):
        log.publish([(b"busy", b"b%d" % i)])
    return log


def test_greatest_and_recent_versions_outlive_the_maximum_lifetime(lifetime_log: Log) -> None:
    log = lifetime_log
    c = veritree.KtClient(log.d.config)
    check_found(search(c, log, b"busy"), c, log, b"busy", 199)
    check_found(search(c, log, b"busy", 190), c, log, b"busy", 190)
    # A version that is still the greatest in an unexpired distinguished entry stays visible.
    check_found(search(c, log, b"quiet", 0), c, log, b"quiet", 0)
    check_found(search(c, log, b"quiet"), c, log, b"quiet", 0)


def test_searches_for_expired_versions_are_refused_with_value_error(lifetime_log: Log) -> None:
    c = veritree.KtClient(lifetime_log.d.config)
    for version in (0, 150):
        with pytest.raises(ValueError):
            lifetime_log.d.search(c.search_request(b"busy", version))


# 8. Client state.


def test_client_state_survives_save_and_restore() -> None:
    log = new_log()
    grow(log, 30)
    c = veritree.KtClient(log.d.config)
    assert veritree.KtClient.restore(c.save()).tree_size == 0
    search(c, log, b"alice")
    search(c, log, b"bob")
    search(c, log, b"carol", 0)  # long superseded: not monitored
    state = c.save()
    assert state == c.save()
    restored = veritree.KtClient.restore(state)
    assert (restored.tree_size, restored.monitored_labels) == (30, c.monitored_labels) == (30, [b"alice", b"bob"])
    grow(log, 4)
    for client in (c, restored):  # both go on alike
        check_found(search(client, log, b"carol"), client, log, b"carol", len(log.values[b"carol"]) - 1)
        for label in client.monitored_labels:
            monitor(client, log, label)
    assert (restored.tree_size, restored.monitored_labels) == (c.tree_size, c.monitored_labels)
    for bad in mangled(state):
        with pytest.raises(ValueError):
            veritree.KtClient.restore(bad)


@settings(max_examples=100, deadline=None)
@given(state=st.binary(max_size=200))
def test_garbage_client_state_is_refused(state: bytes) -> None:
    with pytest.raises(ValueError):
        veritree.KtClient.restore(state)


@settings(max_examples=200, deadline=None)
@given(head=st.binary(max_size=160), flip=st.integers(min_value=0, max_value=8 * 120 - 1))
def test_a_refusal_as_behind_proves_a_rollback_only_with_a_smaller_signed_head(head: bytes, flip: int) -> None:
    """`judge_behind` takes the head a LogBehindError carries: arbitrary
    bytes, or a genuine smaller head with one bit flipped, prove nothing
    (VerificationError); the genuine one proves a rollback."""
    log = new_log()
    grow(log, 6)
    old = veritree.KtDirectory(SIGNING_KEY, VRF_KEY, reasonable_monitoring_window=RMW)  # an old backup
    for t in log.timestamps[:3]:
        old.publish(t)
    c = veritree.KtClient(log.d.config)
    distinguished(c, log)
    with pytest.raises(veritree.LogBehindError) as refusal:
        old.search(c.search_request(b"alice"))
    message, genuine = refusal.value.args
    assert "6 entries" in message
    assert c.judge_behind(genuine)[0] == 3
    for bad in (head, bytes(b ^ (1 << (flip % 8)) if i == flip // 8 % len(genuine) else b
                            for i, b in enumerate(genuine))):
        with pytest.raises(veritree.VerificationError):
            c.judge_behind(bad)


def test_the_new_client_calls_refuse_what_they_do_not_know() -> None:
    c = veritree.KtClient(new_log().d.config)
    with pytest.raises(ValueError):
        c.owner_expired(b"not owned")
    assert c.monitoring(b"never searched") == {} and c.forget_expired(b"never searched") == []
    with pytest.raises(veritree.VerificationError):
        c.judge_behind(b"")  # nothing seen yet: no head can be smaller


# 9. Third-party auditing and label owners, through the Python API.

AUDITOR_KEY = b"\x0a" * 32


def audited_log(lag: int = 30_000) -> tuple[veritree.KtDirectory, veritree.KtAuditor]:
    d = veritree.KtDirectory(b"\x0b" * 32, b"\x0c" * 32, reasonable_monitoring_window=RMW,
                             auditor_public_key=veritree.KtAuditor.public_key(AUDITOR_KEY), max_auditor_lag=lag)
    return d, veritree.KtAuditor(d.config, AUDITOR_KEY)


def audit(d: veritree.KtDirectory, a: veritree.KtAuditor) -> None:
    head = b""
    while a.size < d.size:
        head = a.process(d.auditor_update(a.size))
    if head:
        d.set_auditor_head(head)


def test_an_audited_log_serves_answers_clients_accept() -> None:
    d, a = audited_log()
    c = veritree.KtClient(d.config)
    d.stage(b"alice", b"alice 0")
    d.publish(T0)
    with pytest.raises(ValueError, match="auditor"):  # no answer before the auditor has signed
        d.search(c.search_request(b"alice"))
    for i in range(20):
        if i:
            d.stage(b"alice", b"alice %d" % i)
            d.publish(T0 + 1000 * i)
        audit(d, a)
        r = c.search_request(b"alice")
        assert c.verify_search(r, d.search(r), now_ms=T0 + 1000 * i).value == b"alice %d" % i
    # More than 255 updates become several entries, each audited.
    for i in range(600):
        d.stage(b"user%d" % i, b"keys")
    d.publish(T0 + 20_000)
    assert d.size == 23
    audit(d, a)
    r = c.search_request(b"user599")
    assert c.verify_search(r, d.search(r), now_ms=T0 + 20_000).version == 0
    # The log runs ahead of its auditor by more than the lag: refused.
    for i in range(21, 60):
        d.publish(T0 + 1000 * i)
    r = c.search_request(b"alice")
    with pytest.raises(veritree.VerificationError, match="auditor"):
        c.verify_search(r, d.search(r), now_ms=T0 + 59_000)


def test_the_auditor_refuses_another_logs_updates() -> None:
    d, a = audited_log()
    other, _ = audited_log()  # same keys, another value in one version: another tree
    for log in (d, other):
        for i in range(5):
            log.stage(b"alice", b"keys %d" % i if log is d or i != 3 else b"other keys")
            log.publish(T0 + 1000 * i)
    audit(d, a)
    d.stage(b"bob", b"keys")
    d.publish(T0 + 6000)
    other.stage(b"bob", b"keys")
    other.publish(T0 + 6000)
    with pytest.raises(veritree.VerificationError):
        a.process(other.auditor_update(5))
    assert a.size == 5
    with pytest.raises((ValueError, veritree.VerificationError)):
        a.process(d.auditor_update(5)[:-1])
    head = a.process(d.auditor_update(5))
    assert a.size == 6
    # The other log cannot serve this log's auditor head: it signs another root.
    with pytest.raises(veritree.VerificationError):
        other.set_auditor_head(head)
    with pytest.raises(ValueError):
        other.set_auditor_head(head[:-1])


def test_owners_follow_their_labels_from_a_distinguished_entry() -> None:
    log = new_log()
    log.publish([(b"owned", b"owner's keys")])
    grow(log, 40)
    owner = veritree.KtClient(log.d.config)
    start = distinguished(owner, log)[-1][0]
    req = owner.owner_init_request(b"owned", start)
    assert owner.verify_owner_init(req, log.d.owner_init(req), now_ms=log.now) == 0
    assert owner.owned_labels == [(b"owned", start, 0)]
    grow(log, 60)
    moved = []
    for _ in range(3):
        req = owner.owner_monitor_request(b"owned")
        moved.append(owner.verify_owner_monitor(req, log.d.owner_monitor(req), now_ms=log.now)[0])
    assert moved[-1] > start and moved == sorted(moved)
    restored = veritree.KtClient.restore(owner.save())
    assert restored.owned_labels == owner.owned_labels
    with pytest.raises(ValueError):
        owner.owner_monitor_request(b"not mine")
    # A version the owner did not make is never vouched for: the start stays
    # before it, and once the log stops there, its answer is refused.
    log.publish([(b"owned", b"someone else's key")])
    injected = len(log.timestamps) - 1
    grow(log, 60)
    with pytest.raises(veritree.VerificationError, match="no progress"):
        for _ in range(40):
            req = owner.owner_monitor_request(b"owned")
            start, complete = owner.verify_owner_monitor(req, log.d.owner_monitor(req), now_ms=log.now)
            assert start < injected and not complete


def test_owners_update_their_labels_and_hear_of_every_other_version() -> None:
    log = new_log()
    grow(log, 30)
    owner = veritree.KtClient(log.d.config)
    start = distinguished(owner, log)[-1][0]
    req = owner.owner_init_request(b"dave", start)
    assert owner.verify_owner_init(req, log.d.owner_init(req), now_ms=log.now) is None
    for round, values in enumerate([[b"phone"], [b"phone", b"laptop"], [b"tablet"]]):
        req = owner.update_request(b"dave", values)
        assert log.d.update(req) is None  # staged for the next entry
        assert log.d.update(req) is None  # a retry waits for the same entry
        with pytest.raises(ValueError, match="already waiting"):
            log.d.update(owner.update_request(b"dave", [b"other"]))  # one batch at a time
        log.values.setdefault(b"dave", []).extend(values)
        log.publish()
        grow(log, 3 + round, [b"alice"])
        resp = log.d.update(req)
        assert resp is not None
        first = len(log.values[b"dave"]) - len(values)
        for i in range(0, len(resp), 7):
            bad = bytearray(resp)
            bad[i] ^= 1
            other = veritree.KtClient.restore(owner.save())
            try:
                other.verify_update(req, bytes(bad), now_ms=log.now)
            except REJECTED:
                continue
            # As the draft has it, a value added at a distinguished entry is
            # checked when the owner next monitors that entry.
            mreq = other.owner_monitor_request(b"dave")
            with pytest.raises(veritree.VerificationError):
                other.verify_owner_monitor(mreq, log.d.owner_monitor(mreq), now_ms=log.now)
        added = owner.verify_update(req, resp, now_ms=log.now)
        assert added == [(first + i, v) for i, v in enumerate(values)]
        assert owner.owned_labels[0][2] == len(log.values[b"dave"]) - 1
    # A version the owner did not make is reported to it, with its value.
    log.publish([(b"dave", b"attacker's key")])
    req = owner.update_request(b"dave")
    resp = log.d.update(req)
    assert resp is not None
    assert owner.verify_update(req, resp, now_ms=log.now) == [(4, b"attacker's key")]
    with pytest.raises(ValueError):
        log.d.update(owner.update_request(b"dave"))  # nothing newer, nothing to add
    with pytest.raises(ValueError):
        owner.update_request(b"not mine")
    restored = veritree.KtClient.restore(owner.save())
    assert restored.owned_labels == owner.owned_labels
