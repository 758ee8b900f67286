"""Honest use raises no alert: a short run of the randomized simulation
(tests/support/simulation.py), a property test over random action sequences, and
the directed honest scenarios: a dropped connection after a quiet spell, an
owner that looks itself up, a phone that monitors every 20 hours for ten
days, more than 255 versions of a contact between two monitor() calls, a
device away longer than the maximum lifetime, a clock just too slow for
gossip, and one client shared by two threads."""

from __future__ import annotations

import threading

import pytest
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st
from veritree.ckv.accounts import Device, open_device_set
from veritree.ckv.alerts import AlertKind
from veritree.ckv.client import CkvClient
from veritree.ckv.transport import LocalTransport, Unavailable

import simulation  # tests/support (see conftest.py)

SEC, MIN, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000
SYNC = b"\x33" * 32


class World:
    """A directory in memory and a fake clock (ms) that moves only when told."""

    def __init__(self, **options: int | None) -> None:
        self.t = 1_700_000_000_000
        self.d = veritree.KtDirectory(b"\x01" * 32, b"\x02" * 32, **options)  # type: ignore[arg-type]
        self.d.publish(self.t)
        self.transport = LocalTransport(self.d, self.clock)

    def clock(self) -> int:
        return self.t

    def client(self, transport: LocalTransport | None = None) -> CkvClient:
        return CkvClient.connect(transport or self.transport, clock=self.clock)

    def idle(self, ms: int, every: int = 10 * MIN, others: int = 0) -> None:
        """`ms` pass; the publisher's heartbeat (or other users' updates, `others` an entry) every `every` ms."""
        end = self.t + ms
        while self.t + every <= end:
            self.t += every
            for i in range(others):
                self.d.stage(b"other:%d:%d" % (self.t, i), b"value")
            self.d.publish(self.t)
        self.t = end

    def epochs(self, identifiers: list[bytes]) -> dict[bytes, int]:
        return {i: open_device_set(i, self.d.value(i) or b"").epoch for i in identifiers}


# -- the simulation


#: Busy-log runs (an entry published while a request is in flight) are in
#: CI too, now that check_gossip no longer needs two views at one size (see
#: the last test: before 82f81b5 they raised false SPLIT_VIEW alerts).
CI_MAX_BUSY = simulation.MAX_BUSY


def test_a_short_simulation_of_honest_use_raises_no_alert() -> None:
    totals = simulation.campaign(runs=30, seed=20240611, max_busy=CI_MAX_BUSY)
    lines: list[str] = []
    simulation.report(totals, 0.0, 20240611, lines.append)
    assert totals.runs == 30 and totals.lifetimes > 100 and sum(totals.ops.values()) > 1000, "\n".join(lines)
    assert not totals.alerts and not totals.failures, "\n".join(lines)
    # Known wrong states that are not alerts (see the xfail test below) are reported, not hidden.
    assert set(totals.findings) <= set(simulation.FINDINGS), "\n".join(lines)


def test_a_run_replays_exactly_from_its_seed() -> None:
    seed = simulation.run_seed(7, 3)
    a, b = simulation.simulate(seed, max_busy=CI_MAX_BUSY), simulation.simulate(seed, max_busy=CI_MAX_BUSY)
    assert (a.ops, a.events, a.entries, a.fake_ms, a.lifetimes) == (b.ops, b.events, b.entries, b.fake_ms, b.lifetimes)
    assert a.failure is None and not a.alerts


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**48 - 1))
def test_any_seed_is_an_honest_run_without_alerts(seed: int) -> None:
    r = simulation.simulate(seed, max_busy=CI_MAX_BUSY)
    assert r.failure is None and not r.alerts, f"run seed {seed}: {r.failure_kind}: {r.failure}\n" + "\n".join(r.trace)


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("idle"), st.integers(1, 4 * 60)),  # minutes
        st.tuples(st.sampled_from(["lookup", "monitor", "add", "remove", "gossip", "restart", "sync", "drop",
                                   "own lookup"]),
                  st.integers(0, 3)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(actions=ACTIONS)
def test_any_sequence_of_honest_actions_raises_no_alert(actions: list[tuple[str, int]]) -> None:
    """Two accounts, alice with a phone and a laptop (both holding the key)
    and bob with one phone, do whatever hypothesis picks; the honest app
    retries a dropped request once."""
    w = World(reasonable_monitoring_window=2 * MIN, maximum_lifetime=6 * HOUR)

    class Flaky(LocalTransport):
        drops = 0

        def _maybe_drop(self) -> None:
            if self.drops:
                self.drops -= 1
                raise Unavailable("connection dropped")

        def search(self, request: bytes) -> bytes:
            self._maybe_drop()
            return super().search(request)

        def owner_monitor(self, request: bytes) -> bytes:
            self._maybe_drop()
            return super().owner_monitor(request)

        def distinguished(self, request: bytes) -> bytes:
            self._maybe_drop()
            return super().distinguished(request)

    nets = [Flaky(w.d, w.clock) for _ in range(3)]
    alice = w.client(nets[0])
    alice.create_account([b"user:alice", b"mailto:alice@example.com"], Device(b"phone", b"P" * 32))
    laptop = CkvClient.import_state(nets[1], alice.export_state(SYNC, include_secret=True), SYNC, clock=w.clock)
    bob = w.client(nets[2])
    bob.create_account([b"user:bob"], Device(b"phone", b"B" * 32))
    clients = [alice, laptop, bob]
    gadgets = 0

    def change(c: CkvClient, apply, done) -> None:  # type: ignore[no-untyped-def]
        """A device change met by a dropped connection: monitor, then try
        again unless it is in effect."""
        try:
            apply()
        except Unavailable:
            assert c.monitor() == []
            if not done():
                apply()
    for action, n in actions:
        who = n % 3
        c = clients[who]

        def honest(call):  # type: ignore[no-untyped-def]
            try:
                return call()
            except Unavailable:
                return call()  # one drop at a time: the second try goes through

        if action == "idle":
            w.idle(n * MIN, every=5 * MIN)
            for x in clients:  # honest apps monitor more often than the maximum lifetime
                honest(x.monitor)
        elif action == "lookup":
            honest(lambda: c.lookup(b"user:bob" if who < 2 else b"mailto:alice@example.com"))
        elif action == "own lookup":
            honest(lambda: c.lookup(b"user:bob" if who == 2 else b"user:alice"))
        elif action == "monitor":
            honest(c.monitor)
            assert c.caught_up
        elif action == "add" and who < 2:
            gadgets += 1
            new = Device(b"gadget%d" % gadgets, b"G" * 32)
            change(c, lambda: c.add_device(new), lambda: new in c.own.devices.devices)  # type: ignore[union-attr]
        elif action == "remove" and who < 2:
            assert c.own is not None and c.own.devices is not None
            extra = [d.device_id for d in c.own.devices.devices if d.device_id.startswith(b"gadget")]
            if extra:
                gone = extra[0]
                change(c, lambda: c.remove_device(gone),
                       lambda: gone not in c.own.devices.device_keys())  # type: ignore[union-attr]
        elif action == "gossip":
            peer = clients[(who + 1) % 3]
            assert honest(lambda: c.check_gossip(peer.gossip()))
        elif action == "restart":
            clients[who] = CkvClient.import_state(nets[who], c.export_state(SYNC, include_secret=who != 2), SYNC,
                                                  clock=w.clock)
        elif action == "sync" and who < 2:
            other = 1 - who
            clients[other] = CkvClient.import_state(nets[other], c.export_state(SYNC, include_secret=True), SYNC,
                                                    clock=w.clock)
        elif action == "drop":
            nets[who].drops = 1
        alice, laptop, bob = clients
        w.t += SEC
    for x in clients:
        for net in nets:
            net.drops = 0
        assert x.monitor() == [] and x.caught_up
    assert [a for x in clients for a in x.alerts] == []


# -- directed honest scenarios


def test_a_dropped_connection_after_two_idle_hours_is_no_outage() -> None:
    """(a) Silence is measured from the first unanswered attempt, not from
    the last answer: a device idle for two hours whose first request meets a
    dropped connection (and whose retry a minute later meets another) is
    not told the directory is unavailable."""
    w = World(reasonable_monitoring_window=5 * MIN)
    alice = w.client()
    alice.create_account([b"user:alice"], Device(b"phone", b"A" * 32))
    drops = [0]

    class Dropping(LocalTransport):
        def distinguished(self, request: bytes) -> bytes:
            if drops[0]:
                drops[0] -= 1
                raise Unavailable("connection reset")
            return super().distinguished(request)

        def search(self, request: bytes) -> bytes:
            if drops[0]:
                drops[0] -= 1
                raise Unavailable("connection reset")
            return super().search(request)

    phone = w.client(Dropping(w.d, w.clock))  # unavailable_after: an hour
    phone.create_account([b"user:bob"], Device(b"phone", b"B" * 32))
    phone.lookup(b"user:alice")
    assert phone.monitor() == []
    w.idle(2 * HOUR)
    drops[0] = 1
    with pytest.raises(Unavailable):
        phone.monitor()
    assert phone.alerts == []
    w.t += MIN
    drops[0] = 1
    with pytest.raises(Unavailable):
        phone.lookup(b"user:alice")
    w.t += MIN
    assert phone.monitor() == [] and phone.caught_up
    assert phone.lookup(b"user:alice").epoch == 1
    assert phone.alerts == []


def test_an_owner_that_looks_itself_up_keeps_monitoring() -> None:
    """(b) A device that looks up its own identifier (so it also
    contact-monitors it) and then monitors is never stuck: monitor() keeps
    going across many entries and changes by the account's other device."""
    w = World(reasonable_monitoring_window=MIN, maximum_lifetime=6 * HOUR)
    phone = w.client()
    phone.create_account([b"user:alice", b"mailto:alice@example.com"], Device(b"phone", b"A" * 32))
    laptop = CkvClient.import_state(w.transport, phone.export_state(SYNC, include_secret=True), SYNC, clock=w.clock)
    assert phone.lookup(b"user:alice").epoch == 1
    assert phone.monitor() == [] and phone.caught_up
    for round in range(40):
        w.idle(round % 7 * 10 * MIN + MIN, every=MIN, others=round % 3)
        if round % 5 == 0:
            laptop.add_device(Device(b"gadget%d" % round, b"G" * 32))
        if round % 4 == 0:
            phone.lookup(b"user:alice")
        assert phone.monitor() == [] and phone.caught_up, round
        assert laptop.monitor() == [], round  # it holds the phone's contacts too: it monitors them as often
    assert phone.own is not None and laptop.own is not None and phone.own.devices == laptop.own.devices
    assert phone.own.devices is not None
    assert phone.lookup(b"mailto:alice@example.com").devices == phone.own.devices.device_keys()
    assert phone.alerts == [] and laptop.monitor() == []


def test_a_phone_that_monitors_every_20_hours_keeps_up_for_ten_days() -> None:
    """(c) Maximum lifetime 3 days, 60 entries an hour, a 10-minute
    monitoring window: one monitor() every 20 hours gets all the way each
    time, with no error, for ten and a half days."""
    w = World(reasonable_monitoring_window=10 * MIN, maximum_lifetime=3 * DAY)
    phone = w.client()
    phone.create_account([b"user:phone", b"mailto:phone@example.com"], Device(b"phone", b"P" * 32))
    start = w.t
    checks = 0
    while w.t - start < 10 * DAY + 12 * HOUR:
        w.idle(20 * HOUR, every=MIN, others=1)
        assert phone.monitor() == []
        assert phone.caught_up, f"behind after {(w.t - start) / DAY:.1f} days"
        checks += 1
    assert checks == 13 and w.d.size > 15_000
    assert phone.kt.owned_labels[0][1] > 0 and phone.alerts == []


def test_more_than_255_versions_of_a_contact_between_two_monitors() -> None:
    """(d) Bob looks Alice up after each of her 300 device changes: his
    monitoring map of her identifier passes 255 entries (the draft's limit
    for one request). His state round-trips, and monitor() works in chunks."""
    w = World(reasonable_monitoring_window=MIN)
    alice, bob = w.client(), w.client()
    alice.create_account([b"user:alice"], Device(b"phone", b"A" * 32))
    bob.create_account([b"user:bob"], Device(b"phone", b"B" * 32))
    bob.lookup(b"user:alice")
    assert bob.monitor() == []
    for i in range(300):
        w.t += SEC
        if i % 2:
            alice.remove_device(b"g%d" % (i - 1))
        else:
            alice.add_device(Device(b"g%d" % i, b"G" * 32))
        assert bob.lookup(b"user:alice").epoch == i + 2
    assert len(bob.kt.monitoring(b"user:alice")) > 255
    state = bob.export_state(SYNC)
    again = CkvClient.import_state(w.transport, state, SYNC, clock=w.clock)
    assert again.export_state(SYNC) == state
    assert again.kt.monitoring(b"user:alice") == bob.kt.monitoring(b"user:alice")
    w.idle(HOUR, every=MIN)
    assert again.monitor() == [] and again.caught_up
    assert len(again.kt.monitoring(b"user:alice")) <= 1
    assert again.lookup(b"user:alice").epoch == 301
    assert alice.monitor() == [] and again.alerts == [] and alice.alerts == []


@pytest.mark.parametrize("changed", ["unchanged", "changed recently", "changed long ago"])
def test_a_device_away_longer_than_the_maximum_lifetime_recovers(changed: str) -> None:
    """(e) A phone away 5 hours with a 3-hour maximum lifetime: its owner
    start has expired, and its next monitor() starts ownership again. No
    alert when nothing changed, nor when the account's laptop changed the
    device set within the lifetime (the phone still checks those versions
    one by one). Versions made in entries past the lifetime can no longer
    be checked: one MONITORING_GAP per identifier, the documented alert,
    and the phone still learns the newest set."""
    w = World(reasonable_monitoring_window=5 * MIN, maximum_lifetime=3 * HOUR)
    phone = w.client()
    ids = [b"user:alice", b"mailto:alice@example.com"]
    phone.create_account(ids, Device(b"phone", b"P" * 32))
    laptop = CkvClient.import_state(w.transport, phone.export_state(SYNC, include_secret=True), SYNC, clock=w.clock)
    w.idle(HOUR)
    assert phone.monitor() == []
    old_start = phone.kt.owned_labels[0][1]

    def away(ms: int) -> None:  # the laptop stays online and monitors every half hour
        for _ in range(ms // (30 * MIN)):
            w.idle(30 * MIN)
            assert laptop.monitor() == []

    if changed == "changed long ago":  # its entries are past the lifetime when the phone is back
        away(30 * MIN)
        laptop.add_device(Device(b"tablet", b"T" * 32))
        laptop.remove_device(b"tablet")
        away(4 * HOUR + 30 * MIN)
    elif changed == "changed recently":
        away(4 * HOUR)
        laptop.add_device(Device(b"tablet", b"T" * 32))
        away(HOUR)
    else:
        away(5 * HOUR)
    new = phone.monitor()
    if changed == "changed long ago":
        assert [(a.kind, a.identifier) for a in new] == [(AlertKind.MONITORING_GAP, i) for i in ids]
        assert all(a.evidence == {"first": 1, "last": 2} for a in new)
    else:
        assert new == []
    assert phone.caught_up
    assert phone.kt.owned_labels[0][1] > old_start  # ownership started again, from a recent entry
    assert phone.own is not None and laptop.own is not None and phone.own.devices == laptop.own.devices
    assert phone.own.devices is not None
    assert w.epochs(ids) == {i: phone.own.devices.epoch for i in ids}
    assert phone.monitor() == [] and laptop.monitor() == []
    assert len(phone.alerts) == (2 if changed == "changed long ago" else 0) and laptop.alerts == []


def test_a_clock_61_seconds_slow_is_a_clock_error_in_gossip_not_a_split_view() -> None:
    """(f) max_ahead 60 s: a device whose clock is 61 s slow checks an
    older view of a peer: ClockError (the device's clock is wrong), never a
    SPLIT_VIEW alert. 59 s slow is within bounds: the views agree."""
    w = World(reasonable_monitoring_window=MIN, max_ahead=60 * SEC)
    carol = w.client()
    carol.create_account([b"user:carol"], Device(b"phone", b"C" * 32))
    older = carol.gossip()
    w.idle(HOUR, every=MIN)
    slow = CkvClient.connect(w.transport, clock=lambda: w.t - 61 * SEC)
    with pytest.raises(veritree.ClockError):
        slow.check_gossip(older, "carol")
    assert slow.alerts == []
    assert not any(a.kind is AlertKind.SPLIT_VIEW for a in slow.alerts)
    almost = CkvClient.connect(w.transport, clock=lambda: w.t - 59 * SEC)
    assert almost.check_gossip(older, "carol") and almost.alerts == []


def test_one_client_shared_by_two_threads_while_the_log_grows() -> None:
    """(g) Two threads use one CkvClient (lookups, monitoring, gossip,
    device changes) while the main thread publishes entries: no alert, no
    error."""
    w = World(reasonable_monitoring_window=MIN)
    lock = threading.Lock()

    def clock() -> int:
        with lock:
            return w.t

    alice = CkvClient.connect(w.transport, clock=clock)
    alice.create_account([b"user:alice", b"mailto:alice@example.com"], Device(b"phone", b"A" * 32))
    carol = CkvClient.connect(w.transport, clock=clock)
    carol.create_account([b"user:carol"], Device(b"phone", b"C" * 32))
    shared = CkvClient.connect(w.transport, clock=clock)
    shared.create_account([b"user:bob"], Device(b"phone", b"B" * 32))
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                shared.lookup(b"user:alice")
                shared.monitor()
                assert shared.check_gossip(carol.gossip(), "carol")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def writer() -> None:
        try:
            for i in range(40):
                shared.add_device(Device(b"gadget%d" % i, b"G" * 32))
                shared.lookup(b"mailto:alice@example.com")
                if i % 3 == 0:
                    shared.remove_device(b"gadget%d" % i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for i in range(300):
        with lock:
            w.t += 2 * SEC
        if i % 10 == 0:
            alice.add_device(Device(b"alice%d" % i, b"L" * 32))
        else:
            w.d.stage(b"other:%d" % i, b"value")
            w.d.publish(clock())
        carol.monitor()
        if not threads[1].is_alive():
            break
    threads[1].join(60)
    stop.set()
    threads[0].join(60)
    assert errors == []
    assert shared.monitor() == [] and shared.caught_up
    assert shared.alerts == [] and alice.monitor() == [] and carol.alerts == []


# -- what the simulation found


@pytest.mark.parametrize("then", ["monitor", "retry"])
def test_a_device_change_interrupted_between_two_identifiers_converges(then: str) -> None:
    """Found by the simulation (its 'diverged' finding, fixed in d88ff47):
    an add_device whose answer is lost after the first identifier got the
    new set used to leave the second on the old one for good (monitor() did
    not repair it, a retry was refused). The honest app's next monitor(),
    or its retry, now finishes the change."""
    w = World(reasonable_monitoring_window=MIN)
    armed = [False]

    class LoseFirstUpdateAnswer(LocalTransport):
        def update(self, request: bytes) -> bytes:
            response = super().update(request)
            if armed[0] and veritree.kt_update_request_values(request)[1]:
                armed[0] = False
                raise Unavailable("connection dropped before the answer came")
            return response

    alice = w.client(LoseFirstUpdateAnswer(w.d, w.clock))
    ids = [b"user:alice", b"mailto:alice@example.com"]
    alice.create_account(ids, Device(b"phone", b"P" * 32))
    armed[0] = True
    laptop = Device(b"laptop", b"L" * 32)
    with pytest.raises(Unavailable):
        alice.add_device(laptop)  # user:alice has it; the answer is lost before mailto: gets it
    assert w.epochs(ids) == {ids[0]: 2, ids[1]: 1}
    if then == "monitor":
        assert alice.monitor() == [] and alice.caught_up
    else:
        alice.add_device(laptop)
    assert w.epochs(ids) == {ids[0]: 2, ids[1]: 2}
    bob = w.client()
    assert bob.lookup(ids[1]).devices == {b"phone": b"P" * 32, b"laptop": b"L" * 32}
    assert alice.monitor() == [] and alice.alerts == [] and bob.alerts == []


def test_gossip_with_a_busy_log_and_a_slow_connection_raises_no_split_view() -> None:
    """A log that publishes while each request is in flight never shows two
    views at one size: they are compared where the smaller ends a subtree of
    the larger (`KtClient.root_at`), so honest gossip still agrees."""
    w = World(reasonable_monitoring_window=MIN)

    class Busy(LocalTransport):
        def distinguished(self, request: bytes) -> bytes:
            w.t += SEC  # the directory publishes every second; each request takes longer than that
            w.d.publish(w.t)
            return super().distinguished(request)

    carol = w.client()
    carol.create_account([b"user:carol"], Device(b"phone", b"C" * 32))
    bob = w.client(Busy(w.d, w.clock))
    bob.lookup(b"user:carol")
    assert bob.check_gossip(carol.gossip(), "carol")
    assert bob.alerts == []  # was SPLIT_VIEW: the two views never met at one size
