"""The Contact Key Verification client over an in-process directory: honest
runs raise no alert; each attack raises the right one, with evidence."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import veritree
from veritree.ckv.accounts import AccountKey, Device
from veritree.ckv.alerts import AlertKind
from veritree.ckv.client import STATE_MAGIC, CkvClient
from veritree.ckv.codes import CodeExchange
from veritree.ckv import MalformedState
from veritree.ckv.transport import LocalTransport, Unavailable

from clock import Clock

RMW = 1_000
SYNC = b"\x33" * 32


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.d = veritree.KtDirectory(b"\x01" * 32, b"\x02" * 32, reasonable_monitoring_window=RMW)
        self.d.publish(self.clock.tick())
        self.transport = LocalTransport(self.d, self.clock.tick)

    def client(self) -> CkvClient:
        return CkvClient.connect(self.transport, clock=self.clock)

    def publish(self, *staged: tuple[bytes, bytes]) -> None:
        for label, value in staged:
            self.d.stage(label, value)
        self.d.publish(self.clock.tick())


@pytest.fixture
def world() -> World:
    return World()


def people(world: World) -> Iterator[CkvClient]:
    for name in (b"alice", b"bob"):
        c = world.client()
        c.create_account([b"user:" + name, b"mailto:" + name + b"@example.com"], Device(b"phone", name * 4))
        yield c


def test_honest_accounts_devices_and_lookups_raise_no_alert(world: World) -> None:
    alice, bob = people(world)
    seen = bob.lookup(b"user:alice")
    assert seen.devices == {b"phone": b"alice" * 4}
    alice.add_device(Device(b"laptop", b"L" * 32))
    world.publish((b"someone", b"else"))
    assert bob.lookup(b"mailto:alice@example.com").devices == {b"phone": b"alice" * 4, b"laptop": b"L" * 32}
    assert bob.lookup(b"user:alice").epoch == 2
    alice.remove_device(b"phone")
    assert bob.lookup(b"user:alice").devices == {b"laptop": b"L" * 32}
    for _ in range(3):
        world.publish()
        assert alice.monitor() == [] and bob.monitor() == []
    assert alice.alerts == [] and bob.alerts == []


def test_the_accounts_other_devices_follow_without_alerts(world: World) -> None:
    (alice,) = list(people(world))[:1]
    tablet = CkvClient.import_state(world.transport, alice.export_state(SYNC), SYNC, clock=world.clock)
    alice.add_device(Device(b"tablet", b"T" * 32))
    assert tablet.monitor() == []
    assert tablet.own is not None and tablet.own.devices is not None
    assert tablet.own.devices.device_keys()[b"tablet"] == b"T" * 32
    with pytest.raises(ValueError):
        tablet.add_device(Device(b"x", b"x"))  # no account key on this device
    # A device given the secret can change the set; the first hears of it.
    laptop = CkvClient.import_state(world.transport, alice.export_state(SYNC, include_secret=True), SYNC,
                                    clock=world.clock)
    laptop.add_device(Device(b"laptop", b"L" * 32))
    assert alice.monitor() == [] and tablet.monitor() == []
    alice.add_device(Device(b"watch", b"W" * 32))  # catches up first, then adds
    assert alice.alerts == [] and laptop.monitor() == []


def test_state_is_authenticated_and_keeps_secrets_out_unless_asked(world: World) -> None:
    alice, bob = people(world)
    bob.lookup(b"user:alice")
    state = bob.export_state(SYNC)
    assert bob.own is not None and bob.own.secret is not None and bob.own.secret.hex().encode() not in state
    assert bob.own.secret.hex().encode() in bob.export_state(SYNC, include_secret=True)
    for i in (30, len(state) // 2, len(state) - 3):
        bad = bytearray(state)
        bad[i] ^= 1
        with pytest.raises((veritree.VerificationError, ValueError)):
            CkvClient.import_state(world.transport, bytes(bad), SYNC)
    with pytest.raises(veritree.VerificationError):
        CkvClient.import_state(world.transport, state, b"\x34" * 32)
    again = CkvClient.import_state(world.transport, state, SYNC)
    assert again.contacts == bob.contacts


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"kt": 1}', b'{"kt": "", "config": "", "own": 5, "contacts": []}'])
def test_a_tagged_state_that_export_state_never_writes_is_refused_clearly(world: World, body: bytes) -> None:
    """Found by fuzzing (fuzz/python/client_state.py): a body under a valid tag but missing its fields raised
    KeyError; any such body is a ValueError."""
    state = STATE_MAGIC + hmac.new(SYNC, body, hashlib.sha256).digest() + body
    with pytest.raises(ValueError):
        CkvClient.import_state(world.transport, state, SYNC)


def _retagged(client: CkvClient, change: Callable[[dict[str, Any]], object]) -> bytes:
    """`client`'s state with its JSON changed by `change`, tagged again under the sync key."""
    state = client.export_state(SYNC, include_secret=True)
    doc = json.loads(state[len(STATE_MAGIC) + 32:])
    change(doc)
    body = json.dumps(doc).encode()
    return STATE_MAGIC + hmac.new(SYNC, body, hashlib.sha256).digest() + body


def _set(path: str, value: object) -> Callable[[dict[str, Any]], object]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in parents:
            doc = doc[key]
        doc[last] = value
    return change


@pytest.mark.parametrize(("change", "field"), [
    # Found by the structure-aware fuzz target (fuzz/python/client_state.py): each of these was accepted, or
    # escaped as another exception (OverflowError, RecursionError), or waited in the client as a wrong type.
    (_set("monitoring.withheld", {"monitor": [float("inf"), 1]}), "withheld task's start"),
    (_set("monitoring", None), "monitoring is not an object"),
    (_set("monitoring.last_answer", 1.5), "last_answer"),
    (_set("own.epochs", {"757365723a616c696365": "3"}), "own.epochs"),
    (_set("own.judged", {"757365723a616c696365": -1}), "own.judged"),
    (_set("contacts.0.2", 2**64), "contact's epoch"),
    (_set("contacts.0.4", 1), "verified mark"),
    (_set("contacts.0.1", "AB" * 32), "not lowercase hex"),
    (_set("contacts.0.1", "ab" * 31), "31 bytes, not 32"),
    (_set("own.identifiers", ["757365723a616c696365"] * 2), "twice"),
    (_set("own.identifiers", [""]), "empty"),
    (_set("monitoring.behind", ["ab", "ab"]), "twice"),
    (_set("own.devices.devices", [["70686f6e65", "07"], ["70686f6e65", "08"]]), "device ids must be distinct"),
    (_set("surprise", 1), "'surprise' is not a field"),
    (lambda doc: doc["contacts"].append(doc["contacts"][0]), "one identifier twice"),
    (lambda doc: doc["contacts"][0][3].append(doc["contacts"][0][3][0]), "twice"),
    (lambda doc: doc["own"].pop("epochs"), "'epochs' is missing"),
])
def test_a_tagged_state_with_a_field_of_another_type_or_range_is_refused(
        world: World, change: Callable[[dict[str, Any]], object], field: str) -> None:
    alice, bob = people(world)
    bob.lookup(b"user:alice")
    assert CkvClient.import_state(world.transport, _retagged(bob, lambda doc: None), SYNC)
    with pytest.raises(MalformedState, match=field):
        CkvClient.import_state(world.transport, _retagged(bob, change), SYNC)


def test_a_tagged_state_nested_past_the_parser_is_refused_not_a_recursion_error(world: World) -> None:
    body = b"[" * 100_000
    with pytest.raises(MalformedState, match="nested too deeply"):
        CkvClient.import_state(world.transport, STATE_MAGIC + hmac.new(SYNC, body, hashlib.sha256).digest() + body,
                               SYNC)


def test_an_imported_state_exports_to_itself(world: World) -> None:
    alice, bob = people(world)
    bob.lookup(b"user:alice")
    bob.mark_verified(b"user:alice", bob.contacts[b"user:alice"].account_key)
    bob.withheld, bob.behind, bob.unanswered_since = {"monitor": (5, 2)}, {b"user:bob"}, 7
    state = bob.export_state(SYNC, include_secret=True)
    again = CkvClient.import_state(world.transport, state, SYNC)
    assert again.export_state(SYNC, include_secret=True) == state
    assert (again.withheld, again.behind, again.contacts, again.own) == (bob.withheld, bob.behind, bob.contacts, bob.own)


def test_an_injected_device_is_caught_by_contacts_and_by_the_owner(world: World) -> None:
    alice, bob = people(world)
    bob.lookup(b"user:alice")
    # The directory cannot sign with Alice's account key: it adds its device
    # to her set and keeps her (now invalid) signature.
    assert alice.own is not None
    real = AccountKey(alice.own.secret or b"").sign(b"user:alice", (Device(b"phone", b"alice" * 4),), 2)
    evil = bytearray(real)
    evil[-70] ^= 1  # a device key the account key did not sign
    world.publish((b"user:alice", bytes(evil)))
    with pytest.raises(veritree.VerificationError):
        bob.lookup(b"user:alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.UNSIGNED_DEVICE]
    assert [a.kind for a in alice.monitor()] == [AlertKind.UNSIGNED_DEVICE]


def test_a_new_account_key_is_reported_and_ends_verification(world: World) -> None:
    alice, bob = people(world)
    assert alice.own is not None and bob.own is not None
    key = bob.lookup(b"user:alice").account_key
    # Alice and Bob compare a short code over the account keys they see.
    a = CodeExchange(alice.own.public, bob.lookup(b"user:bob").account_key, initiator=True)
    b = CodeExchange(bob.own.public, key, initiator=False)
    b.finish(a.reveal(b.respond(a.commit())))
    assert a.code == b.code
    bob.mark_verified(b"user:alice", key)
    assert bob.check_public_code(b"user:alice", alice.public_code())
    # A device signed by the account key keeps the mark, without an alert.
    alice.add_device(Device(b"laptop", b"L" * 32))
    assert bob.lookup(b"user:alice").verified and bob.alerts == []
    # The directory swaps in its own account key.
    mallory = AccountKey(b"\x66" * 32)
    world.publish((b"user:alice", mallory.sign(b"user:alice", (Device(b"evil", b"E" * 32),), 99)))
    contact = bob.lookup(b"user:alice")
    assert not contact.verified and contact.account_key == mallory.public
    assert [a.kind for a in bob.alerts] == [AlertKind.ACCOUNT_KEY_CHANGED]
    assert "compare codes again" in bob.alerts[0].message
    assert not bob.check_public_code(b"user:alice", alice.public_code())
    assert [a.kind for a in alice.monitor()] == [AlertKind.UNSIGNED_DEVICE]


def test_a_replayed_older_set_is_caught(world: World) -> None:
    alice, bob = people(world)
    assert alice.own is not None
    old = AccountKey(alice.own.secret or b"").sign(b"user:alice", (Device(b"phone", b"alice" * 4),), 1)
    alice.add_device(Device(b"laptop", b"L" * 32))
    assert bob.lookup(b"user:alice").epoch == 2
    world.publish((b"user:alice", old))
    assert bob.lookup(b"user:alice").devices[b"laptop"] == b"L" * 32  # the old trust stays
    assert [a.kind for a in bob.alerts] == [AlertKind.REPLAYED_DEVICE_SET]
    assert [a.kind for a in alice.monitor()] == [AlertKind.REPLAYED_DEVICE_SET]


class Flaky(LocalTransport):
    down = False

    def search(self, request: bytes) -> bytes:
        if self.down:
            raise Unavailable("connection refused")
        return super().search(request)


def test_silence_alerts_only_when_long(world: World) -> None:
    alice, _ = people(world)
    flaky = Flaky(world.d, world.clock.tick)
    bob = CkvClient.connect(flaky, clock=world.clock, unavailable_after=60_000)
    bob.lookup(b"user:alice")
    flaky.down = True
    for _ in range(3):
        with pytest.raises(Unavailable):
            bob.lookup(b"user:alice")
    assert bob.alerts == []
    world.clock.tick(61_000)
    with pytest.raises(Unavailable):
        bob.lookup(b"user:alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.DIRECTORY_UNAVAILABLE]


class DropsAnUpdate(LocalTransport):
    """Drops the next update of `label` that adds values: the request
    before the directory sees it, or the answer after it took it."""

    label: bytes | None = None
    lost = "request"

    def update(self, request: bytes) -> bytes:
        label, values = veritree.kt_update_request_values(request)
        if values and label == self.label:
            self.label = None
            if self.lost == "answer":
                super().update(request)
            raise Unavailable(f"the connection dropped with the {self.lost}")
        return super().update(request)


@pytest.mark.parametrize("recover", ["retry", "monitor"])
@pytest.mark.parametrize("lost", ["request", "answer"])
def test_a_device_change_interrupted_between_identifiers_is_finished(world: World, lost: str, recover: str) -> None:
    """A change lost between an account's two identifiers (the second never
    got it, or its answer was lost): retrying it (the same device again) or
    the next monitor() brings every identifier to the new set, with no
    alert and no 'device ids must be distinct'."""
    transport = DropsAnUpdate(world.d, world.clock.tick)
    alice = CkvClient.connect(transport, clock=world.clock)
    alice.create_account([b"user:alice", b"mailto:alice"], Device(b"phone", b"P" * 32))
    transport.label, transport.lost = b"mailto:alice", lost
    laptop = Device(b"laptop", b"L" * 32)
    with pytest.raises(Unavailable):
        alice.add_device(laptop)
    bob = world.client()
    assert set(bob.lookup(b"user:alice").devices) == {b"phone", b"laptop"}
    behind = {b"phone"} if lost == "request" else {b"phone", b"laptop"}
    assert set(bob.lookup(b"mailto:alice").devices) == behind
    world.clock.tick()
    if recover == "retry":
        alice.add_device(laptop)
    else:
        assert alice.monitor() == []
    assert set(bob.lookup(b"mailto:alice").devices) == {b"phone", b"laptop"}
    assert bob.lookup(b"mailto:alice").epoch == bob.lookup(b"user:alice").epoch == 2
    assert world.d.greatest_version(b"mailto:alice") == 1  # one version per change, none twice
    assert alice.monitor() == [] and bob.monitor() == []
    assert alice.alerts == [] and bob.alerts == []


def test_a_stale_tree_is_reported(world: World) -> None:
    alice, _ = people(world)
    bob = world.client()
    world.clock.tick(2 * 86_400_000)  # the directory stopped publishing two days ago
    with pytest.raises(veritree.VerificationError):
        bob.lookup(b"user:alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.STALE_TREE]


def test_gossip_catches_a_split_view_and_passes_an_honest_one(tmp_path: Path) -> None:
    # One directory on disk; the compromised operator copies it and serves
    # Bob the copy, where it gives Alice another device.
    clock = Clock()
    options = {"reasonable_monitoring_window": RMW}
    with veritree.KtDirectory.open(tmp_path / "real", b"\x01" * 32, b"\x02" * 32, create=True, **options) as d:
        d.publish(clock.tick())
        alice = CkvClient.connect(LocalTransport(d, clock.tick), clock=clock)
        alice.create_account([b"user:alice"], Device(b"phone", b"A" * 32))
    shutil.copytree(tmp_path / "real", tmp_path / "fork", ignore=shutil.ignore_patterns("lock"))
    real = veritree.KtDirectory.open(tmp_path / "real", b"\x01" * 32, b"\x02" * 32, **options)
    fork = veritree.KtDirectory.open(tmp_path / "fork", b"\x01" * 32, b"\x02" * 32, **options)
    alice.transport = LocalTransport(real, clock.tick)
    carol = CkvClient.connect(LocalTransport(real, clock.tick), clock=clock)
    bob = CkvClient.connect(LocalTransport(fork, clock.tick), clock=clock)
    evil = AccountKey(b"\x66" * 32).sign(b"user:alice", (Device(b"evil", b"E" * 32),), 5)
    t = clock.tick()
    real.publish(t)
    fork.stage(b"user:alice", evil)
    fork.publish(t)
    assert bob.lookup(b"user:alice").devices == {b"evil": b"E" * 32}
    assert carol.lookup(b"user:alice").devices == {b"phone": b"A" * 32}
    alice.monitor()
    # Same size: two heads the directory signed; the peers' own check is enough.
    assert not bob.check_gossip(alice.gossip(), "alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.SPLIT_VIEW] and "peer_signature" in bob.alerts[0].evidence
    # Other sizes: the fork cannot prove Alice's view consistent with Bob's.
    real.publish(clock.tick())
    alice.monitor()
    assert not bob.check_gossip(alice.gossip(), "alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.SPLIT_VIEW] * 2
    # Honest peers: no alert, whichever is ahead.
    for _ in range(2):
        assert carol.check_gossip(alice.gossip()) and alice.check_gossip(carol.gossip())
        real.publish(clock.tick())
        carol.monitor()
    assert carol.alerts == [] and alice.alerts == []
    # Forged or foreign gossip is refused outright.
    bad = bytearray(alice.gossip())
    bad[40] ^= 1
    with pytest.raises((ValueError, veritree.VerificationError)):
        carol.check_gossip(bytes(bad))
    real.close()
    fork.close()


def test_gossip_is_judged_by_its_signed_head_not_by_the_peers_word(world: World) -> None:
    # Gossip's frontier timestamps are signed by no one: a peer that
    # rewrites them must not make the honest directory look split.
    alice, _ = people(world)
    carol = world.client()
    carol.lookup(b"user:alice")
    gossip = alice.gossip()
    k = bin(alice.kt.tree_size).count("1")  # frontier entries: 48 bytes each, before 8 bytes of label maps
    assert k >= 2
    for i, t in [(k - 1, 1 << 62), (k - 1, 0), (0, 1 << 62)]:
        bad = bytearray(gossip)
        at = len(bad) - 8 - 48 * (k - i) + 8
        bad[at:at + 8] = t.to_bytes(8, "big")
        assert carol.check_gossip(bytes(bad), "mallory")
        world.publish()
        assert carol.check_gossip(bytes(bad), "mallory")
    assert carol.alerts == []


def test_two_devices_holding_the_key_change_the_set_in_turn_without_alerts(world: World) -> None:
    (alice,) = list(people(world))[:1]
    laptop = CkvClient.import_state(world.transport, alice.export_state(SYNC, include_secret=True), SYNC,
                                    clock=world.clock)
    alice.add_device(Device(b"tablet", b"T" * 32))
    laptop.add_device(Device(b"watch", b"W" * 32))  # catches up first: keeps the tablet
    assert laptop.own is not None and laptop.own.devices is not None
    assert set(laptop.own.devices.device_keys()) == {b"phone", b"tablet", b"watch"}
    assert laptop.own.devices.epoch == 3
    assert alice.monitor() == [] and laptop.alerts == [] and alice.alerts == []
    assert alice.own is not None and alice.own.secret is not None
    assert alice.own.secret.hex() not in repr(alice) and repr(alice.own.secret) not in repr(alice)


class Garbled(LocalTransport):
    def search(self, request: bytes) -> bytes:
        return super().search(request)[:-7]


def test_a_garbled_answer_is_an_alert_and_a_slow_clock_is_not(world: World) -> None:
    alice, _ = people(world)
    bob = CkvClient.connect(Garbled(world.d, world.clock.tick), clock=world.clock)
    with pytest.raises(veritree.VerificationError):
        bob.lookup(b"user:alice")
    assert [a.kind for a in bob.alerts] == [AlertKind.DIRECTORY_MISBEHAVED]
    carol = CkvClient.connect(world.transport, clock=lambda: world.clock() - 3_600_000)  # an hour slow
    with pytest.raises(veritree.ClockError, match="ahead of this clock"):
        carol.lookup(b"user:alice")
    assert carol.alerts == []


def test_a_client_pins_the_directorys_configuration(world: World) -> None:
    alice, _ = people(world)
    other = veritree.KtDirectory(b"\x05" * 32, b"\x06" * 32, reasonable_monitoring_window=RMW)
    other.stage(b"user:alice", AccountKey(b"\x66" * 32).sign(b"user:alice", (Device(b"evil", b"E" * 32),), 1))
    other.publish(world.clock.tick())
    # A client given the real configuration refuses another log's answers.
    victim = CkvClient.connect(LocalTransport(other, world.clock.tick), config=world.d.config, clock=world.clock)
    with pytest.raises(veritree.VerificationError):
        victim.lookup(b"user:alice")
    # Gossip about another log is refused outright.
    stranger = CkvClient.connect(LocalTransport(other, world.clock.tick), clock=world.clock)
    stranger.kt.verify_distinguished(req := stranger.kt.distinguished_request(), other.distinguished(req),
                                     world.clock())
    with pytest.raises(veritree.VerificationError, match="another log"):
        alice.check_gossip(stranger.gossip())
