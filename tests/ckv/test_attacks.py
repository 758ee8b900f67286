"""The attack catalogue: a malicious directory (`support/malicious.py`), one test per
misbehaviour, each saying WHO detects it (the owner monitoring its
identifier, a contact looking it up or monitoring it, a third-party auditor,
peers comparing views by gossip), WHEN (which call), and with WHICH alert or
exception; and that the honest parties raise nothing. `docs/attacks.md` is
the table of this file, with the attacks that cannot be detected by design.

The tests of the gaps this catalogue first found (G1-G5 in the docs) were
strict xfails until the client closed them; they now pass like the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import veritree
from malicious import (
    KINDS,
    Audited,
    Malicious,
    World,
    answer_from,
    behind,
    claim_older,
    drop_last_version,
    flip_signature,
    garble_value,
    head_of,
    head_tbs,
    lower_greatest,
    once,
    refuse,
    refuse_catch_up,
    replay,
    resign,
    reverse_update,
    rewrite_request,
    set_of,
    signed_head,
    silent,
    tamper,
    tree_size,
    with_values,
    without_view,
)
from veritree.ckv.accounts import AccountKey, Device
from veritree.ckv.alerts import AlertKind
from veritree.ckv.client import STATE_MAGIC, CkvClient
from veritree.ckv.transport import Unavailable

ALICE = b"user:alice"
EVIL = AccountKey(b"\x66" * 32)  # the directory's own account key
SYNC = b"\x33" * 32
LAPTOP = Device(b"laptop", b"L" * 32)

UNSIGNED = AlertKind.UNSIGNED_DEVICE
KEY_CHANGED = AlertKind.ACCOUNT_KEY_CHANGED
REPLAYED = AlertKind.REPLAYED_DEVICE_SET
SPLIT = AlertKind.SPLIT_VIEW
MISBEHAVED = AlertKind.DIRECTORY_MISBEHAVED
ROLLBACK = AlertKind.ROLLBACK
GAP = AlertKind.MONITORING_GAP
STALE = AlertKind.STALE_TREE
UNAVAILABLE = AlertKind.DIRECTORY_UNAVAILABLE


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


@pytest.fixture(params=[False, True], ids=["local", "http"])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The world with clients in process, then over HTTP."""
    w = World(tmp_path, http=request.param)
    yield w
    w.close()


def kinds(client: CkvClient) -> list[AlertKind]:
    return [a.kind for a in client.alerts]


def phone(name: bytes) -> Device:
    """The phone `World.account` registers."""
    return Device(b"phone", name.ljust(32, b"."))


def evil_set(identifier: bytes = ALICE) -> bytes:
    """A device set under the directory's own account key."""
    return EVIL.sign(identifier, (Device(b"evil", b"E" * 32),), 9)


def unsigned_set(owner: CkvClient, identifier: bytes, epoch: int) -> bytes:
    """The owner's set with a device key the account key did not sign."""
    value = bytearray(set_of(owner, identifier, epoch, phone(b"alice"), Device(b"evil", b"E" * 32)))
    value[-70] ^= 1
    return bytes(value)


def require(condition: bool) -> None:
    """A precondition of an attack: failing it is an error in the setup, not the client's."""
    if not condition:
        raise RuntimeError("the attack's setup did not go as planned")


def attacked_lookup(client: CkvClient, identifier: bytes = ALICE) -> None:
    with pytest.raises(veritree.VerificationError):
        client.lookup(identifier)


# -- the harness itself ------------------------------------------------------


def test_the_harness_tells_no_lie_unless_told(any_world: World) -> None:
    """Control: accounts, devices, lookups, monitoring and gossip through an
    unruled `Malicious` (and over its HTTP face) raise no alert."""
    w = any_world
    m = w.malicious()
    alice, bob = w.account(b"alice", m), w.account(b"bob", m)
    assert bob.lookup(ALICE).devices == {b"phone": phone(b"alice").key}
    # Another of Alice's devices adds the laptop, at an entry not distinguished yet.
    w.publish_undistinguished((ALICE, set_of(alice, ALICE, 2, phone(b"alice"), LAPTOP)))
    assert set(bob.lookup(ALICE).devices) == {b"phone", b"laptop"}
    assert bob.kt.monitored_labels == [ALICE]
    alice.remove_device(b"laptop")
    for _ in range(3):
        w.publish()
        assert alice.monitor() == [] and bob.monitor() == []
    assert bob.check_gossip(alice.gossip()) and alice.check_gossip(bob.gossip())
    assert alice.alerts == [] and bob.alerts == [] and alice.caught_up
    assert {k for k, _ in m.asked} == set(KINDS)


# -- 1. versions hidden from their owner --------------------------------------


def test_owner_monitoring_stopped_before_a_hidden_version_is_misbehaviour(any_world: World) -> None:
    """The directory adds its own key under Alice's identifier at an entry
    that is distinguished, then refuses her catch-up ("nothing newer"). Its
    owner monitoring answers stop before that entry (zero progress): Alice's
    next monitor() raises VerificationError and DIRECTORY_MISBEHAVED with the
    request and the answer as evidence."""
    w = any_world
    m = w.malicious()
    alice = w.account(b"alice", m)
    bob, carol = w.account(b"bob"), w.account(b"carol")
    bob.lookup(ALICE)
    for _ in range(3):
        w.publish()
    assert alice.monitor() == [] and alice.caught_up
    w.publish((ALICE, evil_set()))
    w.publish()
    m.lie(refuse_catch_up(), "update")
    with pytest.raises(veritree.VerificationError, match="no progress"):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]
    alert = alice.alerts[0]
    request, answer = m.last("owner_monitor")
    assert alert.identifier == ALICE and alert.evidence == {"request": request, "response": answer}
    # A contact who knew Alice sees the key change at lookup; others see nothing wrong.
    assert bob.lookup(ALICE).account_key == EVIL.public
    assert kinds(bob) == [KEY_CHANGED]
    assert carol.monitor() == [] and carol.alerts == []


def test_owner_monitoring_answered_from_a_copy_without_the_version_is_misbehaviour(world: World) -> None:
    """The directory keeps a copy of its log without the injected version (same
    size, same timestamps) and answers Alice's owner monitoring from it: the
    copy's proofs do not lead to the root she holds."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    copy = w.copy()
    for staged in ([(ALICE, evil_set())], []):
        t = w.clock.tick()
        w.publish(*staged, at=t)
        w.publish(d=copy, at=t)
    assert copy.size == w.d.size and copy.greatest_version(ALICE) == 0
    m.lie(refuse_catch_up(), "update").lie(answer_from(w.local(copy), "owner_monitor"), "owner_monitor")
    with pytest.raises(veritree.VerificationError, match="root"):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


def test_a_split_view_that_hides_a_version_from_its_owner_is_caught_by_gossip(world: World) -> None:
    """Alice is shown, for every request, a copy of the log without the
    injected key; everyone else the log with it. Alice's own checks all pass
    (her view is consistent); a contact who knew her sees the key change, and
    gossip between any of them and Alice is a SPLIT_VIEW on both sides."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    bob = w.account(b"bob")
    bob.lookup(ALICE)
    copy = w.copy()
    m.honest = w.local(copy)
    t = w.clock.tick()
    w.publish((ALICE, evil_set()), at=t)
    w.publish(d=copy, at=t)
    assert alice.monitor() == [] and alice.caught_up  # undetectable by the owner alone
    assert bob.lookup(ALICE).account_key == EVIL.public and kinds(bob) == [KEY_CHANGED]
    assert not alice.check_gossip(bob.gossip(), "bob")
    assert not bob.check_gossip(alice.gossip(), "alice")
    assert kinds(alice) == [SPLIT] and kinds(bob) == [KEY_CHANGED, SPLIT]
    alice_head, bob_head = alice.kt.signed_head, bob.kt.signed_head
    assert alice_head is not None and bob_head is not None
    assert alice.alerts[0].evidence["peer_root"] == bob_head[1].hex()
    assert bob.alerts[1].evidence["peer_root"] == alice_head[1].hex()


def test_a_version_in_an_entry_not_yet_distinguished_is_caught_once_one_covers_it(world: World) -> None:
    """By design the owner checks distinguished entries only: a version
    published less than the reasonable monitoring window after the entry
    before (and hidden from catch-up) passes her next monitor(); once an
    entry a window later covers it, owner monitoring stalls there."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    for _ in range(3):
        w.publish()
    assert alice.monitor() == []
    m.lie(refuse_catch_up(), "update")
    w.publish_undistinguished((ALICE, evil_set()))
    assert alice.monitor() == [] and alice.caught_up  # within the window: not yet
    w.publish()  # 2 s later: a distinguished entry right of the version
    with pytest.raises(veritree.VerificationError, match="no progress"):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


# -- 2. omitted versions -------------------------------------------------------


@pytest.mark.parametrize("claimed", [0, 1])
def test_a_search_claiming_an_older_greatest_version_is_misbehaviour(world: World, claimed: int) -> None:
    """Alice has versions 0 to 2; the directory answers a contact's search
    with the genuine proof of an older version, claimed as the greatest."""
    w = world
    alice = w.account(b"alice")
    alice.add_device(LAPTOP)
    alice.add_device(Device(b"tablet", b"T" * 32))
    m = w.malicious().lie(claim_older(claimed), "search")
    bob = w.client(m)
    attacked_lookup(bob)
    assert kinds(bob) == [MISBEHAVED]
    request, answer = m.last("search")
    assert bob.alerts[0].evidence == {"request": request, "response": answer}
    assert w.client().lookup(ALICE).epoch == 3  # the truth, for an honest answer


def test_an_update_answer_omitting_a_version_is_misbehaviour(world: World) -> None:
    """Two versions were added at one entry (Alice's own set, then the
    directory's key); the UpdateResponse of her catch-up lists only the first."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    w.publish((ALICE, set_of(alice, ALICE, 2, phone(b"alice"), LAPTOP)), (ALICE, evil_set()))
    m.lie(tamper(drop_last_version), "update")
    with pytest.raises(veritree.VerificationError):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


# -- 3. replayed device sets ---------------------------------------------------


def replay_setup(w: World, m: Malicious) -> tuple[CkvClient, CkvClient, bytes]:
    """Alice adds a laptop (set 2), then removes it (set 3); Bob saw set 3.
    Returns (alice, bob, set 2)."""
    alice = w.account(b"alice", m)
    bob = w.account(b"bob")
    alice.add_device(LAPTOP)
    old = set_of(alice, ALICE, 2, phone(b"alice"), LAPTOP)
    assert w.d.value(ALICE) == old  # byte for byte what she published
    alice.remove_device(b"laptop")
    assert bob.lookup(ALICE).epoch == 3
    return alice, bob, old


def test_a_replayed_device_set_told_to_its_owner(any_world: World) -> None:
    """The directory re-adds Alice's set 2, which still lists the removed
    laptop, and tells her of it: REPLAYED_DEVICE_SET at her monitor(), and
    at the lookup of a contact who saw set 3 (who keeps set 3)."""
    w = any_world
    m = w.malicious()
    alice, bob, old = replay_setup(w, m)
    carol = w.client()
    w.publish((ALICE, old))
    assert [a.kind for a in alice.monitor()] == [REPLAYED]
    assert alice.alerts[0].evidence == {"value": old}
    assert bob.lookup(ALICE).devices == {b"phone": phone(b"alice").key}
    assert kinds(bob) == [REPLAYED]
    # A contact who never saw set 3 cannot tell set 2 is old: by design.
    assert b"laptop" in carol.lookup(ALICE).devices and carol.alerts == []


def test_a_replayed_device_set_hidden_from_its_owner(any_world: World) -> None:
    """The same replay, but Alice's catch-up is refused ("nothing newer"):
    owner monitoring stalls before the entry, DIRECTORY_MISBEHAVED."""
    w = any_world
    m = w.malicious()
    alice, bob, old = replay_setup(w, m)
    w.publish((ALICE, old))
    m.lie(refuse_catch_up(), "update")
    with pytest.raises(veritree.VerificationError, match="no progress"):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]
    assert bob.lookup(ALICE).epoch == 3 and kinds(bob) == [REPLAYED]


def test_versions_stored_out_of_order_read_as_a_replay(world: World) -> None:
    """The directory stores two of Alice's sets at one entry in the wrong
    order (set 3 as version 1, set 2 as version 2): the greatest version is
    the older set, REPLAYED_DEVICE_SET for the owner."""
    w = world
    alice = w.account(b"alice")
    bob = w.account(b"bob")
    bob.lookup(ALICE)
    set2 = set_of(alice, ALICE, 2, phone(b"alice"), LAPTOP)
    set3 = set_of(alice, ALICE, 3, phone(b"alice"))
    w.publish((ALICE, set3), (ALICE, set2))
    assert [a.kind for a in alice.monitor()] == [REPLAYED]
    assert bob.lookup(ALICE).epoch == 2 and bob.alerts == []  # Bob never saw set 3


# -- 4. and 5. sets the account key did not sign --------------------------------


def test_another_identifiers_set_served_under_alice_is_unsigned(world: World) -> None:
    """Bob's genuine signed set stored under Alice's identifier: the
    signature covers the identifier, so UNSIGNED_DEVICE for every contact
    (at lookup, VerificationError) and for Alice (at monitor())."""
    w = world
    alice, bob, carol = w.account(b"alice"), w.account(b"bob"), w.account(b"carol")
    carol.lookup(ALICE)
    bobs = w.d.value(b"user:bob")
    assert bobs is not None
    w.publish((ALICE, bobs))
    attacked_lookup(carol)
    assert kinds(carol) == [UNSIGNED] and carol.contacts[ALICE].devices == {b"phone": phone(b"alice").key}
    dave = w.client()
    attacked_lookup(dave)
    assert kinds(dave) == [UNSIGNED] and ALICE not in dave.contacts
    assert [a.kind for a in alice.monitor()] == [UNSIGNED]
    assert bob.monitor() == [] and bob.alerts == []


def test_an_injected_device_is_unsigned_for_contacts_and_owner(world: World) -> None:
    """A device added to Alice's set without her account key."""
    w = world
    alice, bob = w.account(b"alice"), w.account(b"bob")
    bob.lookup(ALICE)
    w.publish((ALICE, unsigned_set(alice, ALICE, 2)))
    attacked_lookup(bob)
    assert kinds(bob) == [UNSIGNED] and bob.alerts[0].evidence == {"value": w.d.value(ALICE)}
    assert [a.kind for a in alice.monitor()] == [UNSIGNED]


def test_the_directorys_own_account_key_is_a_key_change_for_contacts(world: World) -> None:
    """The directory's own account key under Alice's identifier: a contact who
    knew her gets ACCOUNT_KEY_CHANGED (and loses the verified mark); a new
    contact cannot tell (her public code does not match); Alice gets
    UNSIGNED_DEVICE at monitor()."""
    w = world
    alice, bob = w.account(b"alice"), w.account(b"bob")
    assert alice.own is not None
    bob.mark_verified(ALICE, bob.lookup(ALICE).account_key)
    w.publish((ALICE, evil_set()))
    contact = bob.lookup(ALICE)
    assert kinds(bob) == [KEY_CHANGED] and not contact.verified
    assert bob.alerts[0].evidence == {"old": alice.own.public.hex(), "new": EVIL.public.hex()}
    carol = w.client()
    assert carol.lookup(ALICE).account_key == EVIL.public and carol.alerts == []
    assert not carol.check_public_code(ALICE, alice.public_code())  # only codes tell
    assert [a.kind for a in alice.monitor()] == [UNSIGNED]


# -- 6. forks --------------------------------------------------------------------


def test_a_fork_shown_to_two_users_is_a_split_view(any_world: World) -> None:
    """Bob is served a fork (a copy of the log that goes on differently: the
    directory's key for Alice). Alone, nobody can tell; gossip is a
    SPLIT_VIEW on either side, at the same size and at different sizes."""
    w = any_world
    alice = w.account(b"alice")
    fork = w.copy()
    bob, carol = w.client(w.local(fork)), w.client()
    t = w.clock.tick()
    w.publish(at=t)
    w.publish((ALICE, evil_set()), d=fork, at=t)
    assert bob.lookup(ALICE).account_key == EVIL.public and bob.alerts == []
    assert carol.lookup(ALICE).account_key != EVIL.public and carol.alerts == []
    assert alice.monitor() == []
    assert not bob.check_gossip(alice.gossip(), "alice")
    assert kinds(bob) == [SPLIT]
    alice_head, bob_head = alice.kt.signed_head, bob.kt.signed_head
    assert alice_head is not None and bob_head is not None and alice_head[0] == bob_head[0]
    assert bob.alerts[0].evidence["peer_root"] == alice_head[1].hex()
    assert bob.alerts[0].evidence["peer_signature"] == alice_head[2].hex()
    assert bob.alerts[0].evidence["my_root"] == bob_head[1].hex() != alice_head[1].hex()
    assert not alice.check_gossip(bob.gossip(), "bob") and kinds(alice) == [SPLIT]
    # Different sizes: the fork cannot prove Alice's newer view consistent with Bob's.
    w.publish()
    assert alice.monitor() == []
    assert not bob.check_gossip(alice.gossip(), "alice")
    assert kinds(bob) == [SPLIT, SPLIT]
    assert carol.check_gossip(alice.gossip()) and carol.alerts == []


# -- 7. rollbacks ---------------------------------------------------------------


def test_a_rollback_is_proven_by_both_signed_heads(any_world: World) -> None:
    """The directory is restored from an old copy (2 entries) after Bob saw
    more: it refuses his requests as ahead of its log (LogBehindError, 409
    over HTTP) with its signed head; Bob's client raises ROLLBACK keeping both
    heads."""
    w = any_world
    alice = w.account(b"alice")
    backup = w.copy()
    old = head_of(backup, w.clock())
    m = w.malicious()
    bob = w.account(b"bob", m)
    bob.lookup(ALICE)
    w.publish()
    assert bob.monitor() == []
    mine = bob.kt.signed_head
    assert mine is not None and mine[0] > old[0]
    m.honest = w.local(backup)  # the restored directory answers everything
    with pytest.raises(veritree.VerificationError, match="rolled back"):
        bob.lookup(ALICE)
    assert kinds(bob) == [ROLLBACK]
    assert bob.alerts[0].evidence == {
        "size": old[0], "root": old[1].hex(), "signature": old[2].hex(),
        "my_size": mine[0], "my_root": mine[1].hex(), "my_signature": mine[2].hex(),
    }
    with pytest.raises(veritree.VerificationError):
        bob.monitor()
    assert kinds(bob) == [ROLLBACK] and alice.monitor() == []


@pytest.mark.parametrize("head", ["forged", "not smaller", "none"])
def test_a_refusal_as_behind_without_proof_is_misbehaviour(any_world: World, head: str) -> None:
    """A LogBehindError (409) whose head proves no rollback: a smaller head
    with a broken signature, the log's current head, or none at all."""
    w = any_world
    early = head_of(w.d, w.clock())
    m = w.malicious()
    bob = w.account(b"bob", m)
    w.publish()
    bob.monitor()
    current = head_of(w.d, w.clock())
    size, root, signature = early if head == "forged" else current
    bad = bytearray(signed_head(size, root, signature))
    if head == "forged":
        bad[-1] ^= 1
    shown = b"" if head == "none" else bytes(bad)
    m.lie(behind(shown), "search")
    with pytest.raises(veritree.VerificationError, match="without ground"):
        bob.lookup(b"user:bob")
    assert kinds(bob) == [MISBEHAVED]
    assert bob.alerts[0].evidence == {"request": m.asked[-1][1], "refusal": shown}


def test_a_rolled_back_directory_that_grows_again_is_misbehaviour(world: World) -> None:
    """The restored directory publishes past the size Bob saw: its answers
    are a fork of his view, DIRECTORY_MISBEHAVED (not ROLLBACK)."""
    w = world
    w.account(b"alice")
    backup = w.copy()
    m = w.malicious()
    bob = w.account(b"bob", m)
    bob.lookup(ALICE)
    while backup.size <= w.d.size:
        w.publish(d=backup)
    m.honest = w.local(backup)
    attacked_lookup(bob)
    assert kinds(bob) == [MISBEHAVED]


def test_a_rolled_back_directory_that_ignores_the_clients_view_is_misbehaviour(world: World) -> None:
    """The restored directory answers Bob as if he had seen no tree: its
    head is smaller than his view, DIRECTORY_MISBEHAVED."""
    w = world
    w.account(b"alice")
    backup = w.copy()
    m = w.malicious()
    bob = w.account(b"bob", m)
    m.honest = w.local(backup)
    m.lie(rewrite_request(without_view), "search")
    with pytest.raises(veritree.VerificationError, match="rolled back or stood still"):
        bob.lookup(ALICE)
    assert kinds(bob) == [MISBEHAVED]


# -- 8. stale trees and slow clocks ----------------------------------------------


def test_a_stale_tree_is_reported_and_a_slow_clock_is_not(world: World) -> None:
    """The directory stops publishing: once its newest entry is older than
    the log's max_behind (a day) by the client's clock, STALE_TREE at the
    next answer. A client whose clock is behind the log gets ClockError and
    no alert; one a little slow (under max_ahead) notices nothing."""
    w = world
    alice, bob = w.account(b"alice"), w.account(b"bob")
    bob.lookup(ALICE)
    slow = w.client(clock=lambda: w.clock() - 3_600_000)
    with pytest.raises(veritree.ClockError):
        slow.lookup(ALICE)
    assert slow.alerts == []
    a_bit_slow = w.client(clock=lambda: w.clock() - 30_000)
    assert a_bit_slow.lookup(ALICE).account_key == bob.contacts[ALICE].account_key
    assert a_bit_slow.alerts == []
    w.clock.tick(86_400_000 + 1_000)
    with pytest.raises(veritree.VerificationError, match="stale"):
        bob.lookup(ALICE)
    assert kinds(bob) == [STALE]
    with pytest.raises(veritree.VerificationError, match="stale"):
        alice.monitor()
    assert kinds(alice) == [STALE]


# -- 9. withheld distinguished entries ----------------------------------------------


@pytest.mark.parametrize("entries_between", [0, 40])
def test_a_withheld_distinguished_entry_is_misbehaviour(world: World, entries_between: int) -> None:
    """Alice's tablet adds a device; Alice hears of it (catch-up), but the
    directory answers her owner monitoring as if she had not: its answers
    carry the ladders up to that entry (fewer than asked, or none) and then
    none. Once an answer makes no progress: DIRECTORY_MISBEHAVED."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    tablet = CkvClient.import_state(w.transport, alice.export_state(SYNC, include_secret=True), SYNC, clock=w.clock)
    for _ in range(entries_between):
        w.publish()
    tablet.add_device(Device(b"tablet", b"T" * 32))
    w.publish()
    m.lie(rewrite_request(lower_greatest), "owner_monitor")
    before = m.count("owner_monitor")
    with pytest.raises(veritree.VerificationError, match="no progress"):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]
    answers = m.count("owner_monitor") - before
    assert answers == 1 if entries_between == 0 else answers > 1  # progress first, then a stall
    assert tablet.monitor() == []


# -- 10. re-ordered versions ------------------------------------------------------------


def two_sets(alice: CkvClient) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """Alice's sets 2 (with a laptop) and 3, to be added at one entry (as another
    of her devices may do)."""
    return (ALICE, set_of(alice, ALICE, 2, phone(b"alice"), LAPTOP)), (ALICE, set_of(alice, ALICE, 3, phone(b"alice")))


@pytest.mark.parametrize("reorder", [None, "values", "values and openings"])
def test_reordered_update_values_are_caught_by_owner_monitoring(world: World, reorder: str | None) -> None:
    """Two of Alice's sets were added at one entry (as her other device may
    do); the UpdateResponse of her catch-up lists them in reverse order. Her
    monitor() raises VerificationError and DIRECTORY_MISBEHAVED, nothing else:
    the values are looked up at their entry before they are judged."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    bob = w.account(b"bob")
    w.publish(*two_sets(alice))
    if reorder is None:
        assert alice.monitor() == []  # control: the honest order
        return
    m.lie(tamper(partial(reverse_update, openings_too=reorder != "values")), "update")
    with pytest.raises(veritree.VerificationError):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]
    assert bob.lookup(ALICE).epoch == 3 and bob.alerts == []


@pytest.mark.parametrize("lie", ["reordered", "garbled"])
def test_an_update_answer_is_verified_before_its_values_are_judged(world: World, lie: str) -> None:
    """Gap G1: a reordered or garbled UpdateResponse for versions added at a
    distinguished entry is refused before its values are judged: only
    DIRECTORY_MISBEHAVED, no alert about sets the log never held."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    w.publish(*two_sets(alice))
    edit = partial(reverse_update, openings_too=True) if lie == "reordered" else garble_value
    m.lie(tamper(edit), "update")
    with pytest.raises(veritree.VerificationError):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


@pytest.mark.parametrize("lie", ["garbled", "omitted"])
def test_one_lying_update_answer_does_not_poison_the_owner(world: World, lie: str) -> None:
    """Gap G2: one lying UpdateResponse is refused whole; once the directory
    answers honestly again the owner monitors and adds a device."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    w.publish(*two_sets(alice))
    m.lie(once(tamper(garble_value if lie == "garbled" else drop_last_version)), "update")
    with pytest.raises(veritree.VerificationError):
        alice.monitor()
    require(MISBEHAVED in kinds(alice))
    # The directory answers honestly again: the owner must be able to go on.
    w.publish()
    try:
        assert alice.monitor() == []
        alice.add_device(Device(b"tablet", b"T" * 32))
    except veritree.VerificationError as e:
        raise AssertionError(f"the owner is stuck after one lie: {e}") from e


def test_an_update_answered_with_the_owners_values_while_the_entry_holds_others(world: World) -> None:
    """The directory drops Alice's new set, publishes its own key instead, and
    answers her UpdateRequest with her own values over that entry (a
    distinguished entry: verify_update does not look there). The owner
    monitoring that follows in the same add_device() call finds the entry
    holds something else: DIRECTORY_MISBEHAVED."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    m.lie(swallow(w, alice), "update")
    with pytest.raises(veritree.VerificationError):
        alice.add_device(LAPTOP)
    assert kinds(alice) == [MISBEHAVED]
    assert w.d.value(ALICE) == evil_set()


def swallow(w: World, owner: CkvClient) -> Callable[[bytes, Callable[[bytes], bytes]], bytes]:
    """A rule for UpdateRequests: one adding values gets the directory's key
    published in their place, and the answer lists the owner's values."""

    def rule(request: bytes, honest: Callable[[bytes], bytes]) -> bytes:
        label, values = veritree.kt_update_request_values(request)
        if not values:
            return honest(request)
        w.publish((label, evil_set(label)))
        return with_values(honest(owner.kt.update_request(label)), values)

    return rule


# -- 11. forged and replayed signatures -------------------------------------------------


@pytest.mark.parametrize("kind", ["search", "distinguished"])
def test_a_head_with_a_flipped_signature_bit_is_misbehaviour(world: World, kind: str) -> None:
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m)
    w.publish()
    m.lie(tamper(flip_signature), kind)
    with pytest.raises(veritree.VerificationError, match="signature is not valid"):
        alice.lookup(ALICE) if kind == "search" else alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


@pytest.mark.parametrize("signer", [b"\x01" * 32, b"\x09" * 32], ids=["the log's key (control)", "another key"])
def test_a_head_signed_by_another_key_is_misbehaviour(world: World, signer: bytes) -> None:
    """The true size and root, signed by a key other than the pinned one."""
    w = world
    w.account(b"alice")

    def resigned(answer: bytes) -> bytes:
        size, root, _ = head_of(w.d, w.clock())
        assert size == tree_size(answer)
        return resign(answer, veritree.ed25519_sign(signer, head_tbs(w.d.config, size, root)))

    bob = w.client(w.malicious().lie(tamper(resigned), "search"))
    if signer == b"\x01" * 32:
        bob.lookup(ALICE)
        assert bob.alerts == []
        return
    with pytest.raises(veritree.VerificationError, match="signature is not valid"):
        bob.lookup(ALICE)
    assert kinds(bob) == [MISBEHAVED]


@pytest.mark.parametrize("grown", [True, False], ids=["after a publication", "same size"])
def test_a_replayed_answer_is_misbehaviour(world: World, grown: bool) -> None:
    """An old, genuinely signed answer replayed to a client that saw its tree."""
    w = world
    w.account(b"alice")
    m = w.malicious()
    bob = w.client(m.lie(replay({}), "search"))
    bob.lookup(ALICE)
    if grown:
        w.publish()
    with pytest.raises(veritree.VerificationError, match="rolled back or stood still"):
        bob.lookup(ALICE)
    assert kinds(bob) == [MISBEHAVED]


# -- 12. refusals and silence ----------------------------------------------------------


def test_refused_monitoring_is_silence_until_it_lasts(any_world: World) -> None:
    """An honest directory answers every monitoring request a client makes:
    refusals of them (400) raise no alert at first; once they have gone on
    for `WITHHELD_ATTEMPTS` attempts over `unavailable_after` while the
    directory answered (refused) other requests, DIRECTORY_MISBEHAVED: the
    directory withholds monitoring."""
    w = any_world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    m.lie(refuse("overloaded"), "distinguished", "owner_monitor", "monitor")
    for step in (0, 30_000):
        w.clock.tick(step)
        with pytest.raises(ValueError, match="overloaded"):
            alice.monitor()
        assert alice.alerts == []
    w.clock.tick(31_000)
    with pytest.raises(ValueError):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]
    assert alice.alerts[0].evidence["attempts"] == 3
    m.honestly()
    assert alice.monitor() == []  # answers again: nothing new


def test_a_refused_search_is_only_an_exception(any_world: World) -> None:
    """"No such label" is a legitimate answer to a search: a directory that
    says so of a registered identifier is refused as such, without an alert,
    however long it lasts (not detectable by design)."""
    w = any_world
    w.account(b"alice")
    m = w.malicious().lie(refuse("no such label"), "search")
    bob = w.account(b"bob", m, unavailable_after=60_000)
    for _ in range(3):
        w.clock.tick(3_600_000)
        with pytest.raises(ValueError, match="no such label"):
            bob.lookup(ALICE)
    assert bob.alerts == []


def test_a_silent_directory_is_unavailable_once_long(world: World) -> None:
    """No answer at all: DIRECTORY_UNAVAILABLE, and only once the silence has
    lasted `unavailable_after` (not detectable as an attack: by design)."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    m.lie(silent, *KINDS)
    with pytest.raises(Unavailable):
        alice.monitor()
    with pytest.raises(Unavailable):
        alice.lookup(ALICE)
    assert alice.alerts == []
    w.clock.tick(60_000)
    with pytest.raises(Unavailable):
        alice.monitor()
    assert kinds(alice) == [UNAVAILABLE]


def test_refused_registration_and_updates_are_only_exceptions(world: World) -> None:
    """Refusing to register an identifier, or to add a device set, is the
    directory's word (whoever asks first registers): an exception, no alert."""
    w = world
    m = w.malicious().lie(refuse("the identifier is taken"), "owner_init")
    carol = w.client(m)
    with pytest.raises(ValueError, match="taken"):
        carol.create_account([b"user:carol"], phone(b"carol"))
    m.honestly()
    alice = w.account(b"alice", m)
    m.lie(refuse("the identifier belongs to another account key"), "update")
    with pytest.raises(ValueError, match="another account key"):
        alice.add_device(LAPTOP)
    assert carol.alerts == [] and alice.alerts == []


def test_refused_owner_monitoring_alone_is_reported_once_it_lasts(world: World) -> None:
    """Gap G3: the directory answers the distinguished request of every
    monitor() but refuses owner monitoring (and catch-up) to hide its key:
    withheld monitoring, DIRECTORY_MISBEHAVED once it lasts."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    bob = w.account(b"bob")
    bob.lookup(ALICE)
    w.publish((ALICE, evil_set()))
    m.lie(refuse_catch_up(), "update").lie(refuse("no such label"), "owner_monitor")
    for _ in range(4):
        w.clock.tick(30_000)
        w.publish()
        with pytest.raises((ValueError, veritree.VerificationError)):
            alice.monitor()
    require(bob.lookup(ALICE).account_key == EVIL.public)  # the world sees the directory's key
    assert set(kinds(alice)) & {UNAVAILABLE, MISBEHAVED}, "two minutes of refused owner monitoring, no alert"


def test_refused_contact_monitoring_alone_is_reported_once_it_lasts(world: World) -> None:
    """Gap G4: contact monitoring alone refused: DIRECTORY_MISBEHAVED once it lasts."""
    w = world
    w.account(b"alice")
    m = w.malicious()
    bob = w.account(b"bob", m, unavailable_after=60_000)
    w.publish_undistinguished((ALICE, evil_set()))  # not distinguished: Bob must monitor it
    bob.lookup(ALICE)
    require(bob.kt.monitored_labels == [ALICE])
    m.lie(refuse("no such label"), "monitor")
    for _ in range(4):
        w.clock.tick(30_000)
        with pytest.raises((ValueError, veritree.VerificationError)):
            bob.monitor()
    assert set(kinds(bob)) & {UNAVAILABLE, MISBEHAVED}, "two minutes of refused contact monitoring, no alert"


def test_a_swallowed_update_cannot_be_hidden_by_refusing_owner_monitoring(world: World) -> None:
    """The directory swallows Alice's new set, publishes its own key, tells
    her her set was added, then refuses her owner monitoring. The values of
    an update are looked up at their entry even when it is distinguished, so
    the lie is caught in the add_device() call itself (DIRECTORY_MISBEHAVED)
    and she never believes her set was published; refusing her owner
    monitoring afterwards is withheld monitoring (DIRECTORY_MISBEHAVED
    again, once it lasts)."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    m.lie(swallow(w, alice), "update")

    def refuse_once_swallowed(request: bytes, honest: Callable[[bytes], bytes]) -> bytes:
        if w.d.value(ALICE) == evil_set():
            raise ValueError("no such label")
        return honest(request)

    m.lie(refuse_once_swallowed, "owner_monitor")
    with pytest.raises(veritree.VerificationError):
        alice.add_device(LAPTOP)
    assert kinds(alice) == [MISBEHAVED]
    assert alice.own is not None and alice.own.devices is not None
    assert b"laptop" not in alice.own.devices.device_keys()  # she knows her set was not published
    require(w.d.value(ALICE) == evil_set())  # the log holds the directory's key
    for _ in range(4):
        w.clock.tick(30_000)
        w.publish()
        with pytest.raises((ValueError, veritree.VerificationError)):
            alice.monitor()
    assert any("has not answered owner monitoring" in a.message for a in alice.alerts), alice.alerts


# -- 13. garbled answers ----------------------------------------------------------------------


@pytest.mark.parametrize("edit", ["cut", "pad"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_garbled_answer_is_misbehaviour(world: World, kind: str, edit: str) -> None:
    """Each kind of answer, cut short by 7 bytes or given a trailing byte."""
    w = world
    m = w.malicious()
    garble = tamper((lambda b: b[:-7]) if edit == "cut" else (lambda b: b + b"\x00"))
    if kind == "owner_init":
        m.lie(garble, kind)
        carol = w.client(m)
        with pytest.raises(veritree.VerificationError):
            carol.create_account([b"user:carol"], phone(b"carol"))
        victim = carol
    else:
        alice, bob = w.account(b"alice", m), w.account(b"bob", m)
        w.publish_undistinguished((ALICE, set_of(alice, ALICE, 2, phone(b"alice"))))
        bob.lookup(ALICE)
        assert bob.kt.monitored_labels == [ALICE]  # so that bob.monitor() asks contact monitoring
        w.publish()
        m.lie(garble, kind)
        victim = bob if kind in ("search", "monitor") else alice
        with pytest.raises(veritree.VerificationError):
            if kind == "search":
                bob.lookup(ALICE)
            elif kind == "monitor":
                bob.monitor()
            elif kind == "update":
                alice.add_device(LAPTOP)
            else:
                alice.monitor()
    assert kinds(victim) == [MISBEHAVED]
    assert victim.alerts[0].evidence["response"] == m.last(kind)[1]


@pytest.mark.parametrize("kind", ["search", "owner_monitor"])
def test_a_garbled_answer_over_http_is_misbehaviour(tmp_path: Path, kind: str) -> None:
    w = World(tmp_path, http=True)
    try:
        m = w.malicious()
        alice = w.account(b"alice", m)
        w.publish()
        m.lie(tamper(lambda b: b[: len(b) // 2]), kind)
        with pytest.raises(veritree.VerificationError):
            alice.lookup(ALICE) if kind == "search" else alice.monitor()
        assert kinds(alice) == [MISBEHAVED]
    finally:
        w.close()


# -- the maximum lifetime -----------------------------------------------------------


def test_versions_made_while_the_owner_was_away_are_a_monitoring_gap(tmp_path: Path) -> None:
    """While Alice is away longer than the log keeps entries, the directory
    puts its key under her identifier and then her own set back, and hides
    both from her catch-up. Back, she can no longer check them one by one:
    MONITORING_GAP (versions 1 to 2), and her re-added set reads as a replay."""
    w = World(tmp_path, maximum_lifetime=20_000)
    try:
        m = w.malicious()
        alice = w.account(b"alice", m)
        current = w.d.value(ALICE)
        assert current is not None
        w.publish((ALICE, evil_set()))
        w.publish((ALICE, current))
        for _ in range(15):
            w.publish()
        m.lie(refuse_catch_up(), "update")
        assert [a.kind for a in alice.monitor()] == [GAP, REPLAYED]
        assert (alice.alerts[0].evidence["first"], alice.alerts[0].evidence["last"]) == (1, 2)
        assert alice.monitor() == []
    finally:
        w.close()


# -- third-party auditing ----------------------------------------------------------


AUDITOR = b"\x07" * 32


def audited_world(tmp_path: Path) -> tuple[World, Audited]:
    w = World(tmp_path, auditor_public_key=veritree.KtAuditor.public_key(AUDITOR), max_auditor_lag=10_000)
    auditor = veritree.KtAuditor(w.d.config, AUDITOR)
    w.transport = Audited(w.d, w.clock.tick, auditor)
    return w, w.transport


def test_a_fork_of_an_audited_log_is_refused_once_the_auditor_lags(tmp_path: Path) -> None:
    """The auditor signs the real log only: a fork served to Bob carries an
    auditor head from before the fork, accepted while within max_auditor_lag
    (10 s here), refused after: DIRECTORY_MISBEHAVED, without gossip."""
    w, audited = audited_world(tmp_path)
    try:
        alice = w.account(b"alice")
        fork = w.copy()
        bob = w.client(w.local(fork))
        t = w.clock.tick()
        w.publish((b"user:dave", b"dave"), at=t)
        audited.audit()
        w.publish((ALICE, evil_set()), d=fork, at=t)
        assert bob.lookup(ALICE).account_key == EVIL.public and bob.alerts == []  # within the lag
        for _ in range(5):
            t = w.clock.tick()
            w.publish(at=t)
            audited.audit()
            w.publish(d=fork, at=t)
        with pytest.raises(veritree.VerificationError, match="auditor"):
            bob.lookup(ALICE)
        assert kinds(bob) == [MISBEHAVED]
        assert alice.monitor() == [] and w.client().lookup(ALICE).account_key != EVIL.public
    finally:
        w.close()


def test_the_auditor_refuses_an_entry_from_another_branch(tmp_path: Path) -> None:
    """Shown the fork's entry after the real one, the auditor refuses it
    (VerificationError) and signs nothing for it."""
    w, audited = audited_world(tmp_path)
    try:
        w.account(b"alice")
        fork = w.copy()
        t = w.clock.tick()
        w.publish((b"user:dave", b"dave"), at=t)
        audited.audit()
        w.publish((ALICE, evil_set()), d=fork, at=t)
        size = audited.auditor.size
        with pytest.raises(veritree.VerificationError):
            audited.auditor.process(fork.auditor_update(fork.size - 1))
        assert audited.auditor.size == size
    finally:
        w.close()


# -- 13. withholding from an app that is killed between attempts -----------------


def restarted(w: World, c: CkvClient, **options: int) -> CkvClient:
    """The same device's next run: its state saved, the app killed, the state restored."""
    return CkvClient.import_state(c.transport, c.export_state(SYNC, include_secret=True), SYNC, clock=w.clock,
                                  **options)


def test_withheld_monitoring_is_caught_across_restarts(world: World) -> None:
    """A directory refuses one device's monitoring while answering its other
    requests. The app is killed after each attempt (phones kill apps): the
    attempts and when they began are in the saved state, so the third
    attempt two minutes on is withheld monitoring (DIRECTORY_MISBEHAVED),
    as it is for a device that never restarts."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    m.lie(refuse("overloaded"), "distinguished", "owner_monitor", "monitor")
    for step in (0, 30_000, 31_000):
        w.clock.tick(step)
        with pytest.raises(ValueError, match="overloaded"):
            alice.monitor()
        alice = restarted(w, alice, unavailable_after=60_000)
    assert alice.withheld, "the saved state forgot the unanswered attempts"
    with pytest.raises(ValueError):
        alice.monitor()
    assert kinds(alice) == [MISBEHAVED]


def test_silence_is_caught_across_restarts(world: World) -> None:
    """No answer at all, the app killed after each try: the silence's start
    survives in the saved state, so DIRECTORY_UNAVAILABLE comes once it has
    lasted `unavailable_after`, not never."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    m.lie(silent, *KINDS)
    for _ in range(3):
        with pytest.raises(Unavailable):
            alice.monitor()
        alice = restarted(w, alice, unavailable_after=60_000)
        w.clock.tick(30_000)
    with pytest.raises(Unavailable):
        alice.monitor()
    assert kinds(alice) == [UNAVAILABLE]


def test_a_state_from_before_the_timers_were_kept_still_imports(world: World) -> None:
    """States saved before the timers were kept restore with none; timers that are not times are refused."""
    alice = world.account(b"alice")
    state = alice.export_state(SYNC)
    body = json.loads(state[len(STATE_MAGIC) + 32:])
    del body["monitoring"]
    old = json.dumps(body, sort_keys=True).encode()
    restored = CkvClient.import_state(world.transport, STATE_MAGIC + hmac.new(SYNC, old, hashlib.sha256).digest() + old,
                                      SYNC, clock=world.clock)
    assert restored.withheld == {} and restored.unanswered_since is None
    body["monitoring"] = {"last_answer": "yesterday"}
    bad = json.dumps(body, sort_keys=True).encode()
    with pytest.raises(ValueError, match="last_answer"):
        CkvClient.import_state(world.transport, STATE_MAGIC + hmac.new(SYNC, bad, hashlib.sha256).digest() + bad, SYNC)


def test_an_honest_directory_and_a_client_restarted_often_raise_no_alert(world: World) -> None:
    """The other side: an honest directory, an app killed after every call
    for hours, including one refused call (a transient overload) and spells
    with no network: the saved timers make no alert out of that."""
    w = world
    m = w.malicious()
    alice = w.account(b"alice", m, unavailable_after=60_000)
    bob = w.account(b"bob", unavailable_after=60_000)
    bob.lookup(ALICE)
    for round_ in range(8):
        w.clock.tick(30 * 60_000)
        w.publish()
        if round_ == 2:
            m.lie(refuse("overloaded"), "distinguished", "owner_monitor", "monitor")
            with pytest.raises(ValueError):
                alice.monitor()
            m.honestly()
        elif round_ == 5:
            m.lie(silent, *KINDS)
            with pytest.raises(Unavailable):
                alice.monitor()
            m.honestly()
        else:
            alice.monitor()
        bob.monitor()
        alice, bob = restarted(w, alice, unavailable_after=60_000), restarted(w, bob, unavailable_after=60_000)
    assert alice.alerts == [] and bob.alerts == []
    assert alice.withheld == {} and alice.unanswered_since is None
