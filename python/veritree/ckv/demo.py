"""`veritree demo`: the whole story against a real local HTTP server.

Accounts with several devices register; one adds a device (no alert);
contacts look each other up and every answer is verified; two people
compare codes and they match. Then the directory is compromised: it injects
a device key for one user, and later shows two users different trees. Each
attack is detected, explained and printed.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from veritree._native import KtDirectory, VerificationError
from veritree.ckv.accounts import AccountKey, Device, update_validator
from veritree.ckv.alerts import Alert
from veritree.ckv.client import CkvClient
from veritree.ckv.codes import CodeExchange
from veritree.ckv.http import HttpTransport
from veritree.ckv.server import create_app, serve_in_thread

INTERVAL = 0.2  # seconds between log entries
RMW = 1_000  # ms: clients of this demo monitor often


class Story:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.detected: list[Alert] = []

    def step(self, title: str) -> None:
        self.out(f"\n== {title}")

    def say(self, text: str) -> None:
        self.out(f"   {text}")

    def alerts(self, who: str, alerts: list[Alert]) -> None:
        if not alerts:
            self.say(f"{who}: no alert")
        for a in alerts:
            self.say(f"{who}: {a}")
        self.detected += alerts


def _device(name: str) -> Device:
    return Device(name.encode(), secrets.token_bytes(32))


def _devices(client: CkvClient, identifier: bytes) -> str:
    contact = client.contacts[identifier]
    names = ", ".join(sorted(d.decode() for d in contact.devices))
    mark = ", codes compared" if contact.verified else ""
    return f"{identifier.decode()}: account key {contact.account_key.hex()[:12]}…, devices [{names}]{mark}"


def _wait_for_entry(directory: KtDirectory) -> None:
    size = directory.size
    while directory.size <= size + 1:
        time.sleep(INTERVAL / 4)


def run(data: str | None = None, out: Callable[[str], None] = print) -> int:
    """Tells the story; returns 0 when every honest step raised no alert
    and every attack was detected. Each run keeps its directories in a new
    folder `run-<n>` of `data` (made if missing), or in a temporary folder
    removed at the end."""
    if data is None:
        with tempfile.TemporaryDirectory() as tmp:
            return _run(Path(tmp), "a temporary folder, removed at the end", Story(out))
    base = Path(data)
    base.mkdir(parents=True, exist_ok=True)
    runs = [int(p.name[4:]) for p in base.glob("run-*") if p.name[4:].isdecimal()]
    root = base / f"run-{max(runs, default=0) + 1}"
    return _run(root, str(root), Story(out))


def _run(root: Path, where: str, story: Story) -> int:
    signing, vrf = secrets.token_bytes(32), secrets.token_bytes(32)  # the operator's keys, never printed
    real = KtDirectory.open(root / "directory", signing, vrf, create=True, reasonable_monitoring_window=RMW)
    app = create_app(real, publish_interval=INTERVAL, validate_update=update_validator(real))
    with real, serve_in_thread(app) as url, HttpTransport(url) as http:
        story.step(f"A key directory serves IETF KEYTRANS over HTTP at {url} (log on disk in {where})")

        story.step("1. Accounts register: an account key signs each account's device set")
        alice, bob, carol = (CkvClient.connect(http) for _ in range(3))
        alice.create_account([b"user:alice", b"tel:+15550100"], _device("alice-phone"))
        bob.create_account([b"user:bob"], _device("bob-phone"))
        carol.create_account([b"user:carol"], _device("carol-phone"))
        story.say("alice (user:alice, tel:+15550100), bob and carol registered; each owner verified where "
                  "the directory put its set")
        alice.add_device(_device("alice-laptop"))
        story.say("alice added her laptop, signed by her account key")
        story.alerts("alice", alice.alerts)

        story.step("2. Contacts look each other up; every answer is verified automatically")
        for who, client, identifier in (("bob", bob, b"user:alice"), ("alice", alice, b"user:bob"),
                                        ("carol", carol, b"user:bob")):
            client.lookup(identifier)
            story.say(f"{who} sees {_devices(client, identifier)}")
        bob.lookup(b"tel:+15550100")
        story.say(f"bob sees {_devices(bob, b'tel:+15550100')}")

        story.step("3. Alice and Bob compare a six-digit code on a call")
        assert alice.own is not None and bob.own is not None
        mine = CodeExchange(alice.own.public, alice.lookup(b"user:bob").account_key, initiator=True)
        theirs = CodeExchange(bob.own.public, bob.contacts[b"user:alice"].account_key, initiator=False)
        theirs.finish(mine.reveal(theirs.respond(mine.commit())))
        story.say(f"alice reads {mine.code}, bob reads {theirs.code}: "
                  + ("they match" if mine.code == theirs.code else "THEY DIFFER"))
        if mine.code == theirs.code:
            bob.mark_verified(b"user:alice", bob.contacts[b"user:alice"].account_key)
            alice.mark_verified(b"user:bob", alice.contacts[b"user:bob"].account_key)
        code = alice.public_code()
        story.say(f"alice's public code {code} checks against the directory: "
                  f"{bob.check_public_code(b'user:alice', code)}")

        story.step("4. Alice adds a tablet; everyone monitors")
        alice.add_device(_device("alice-tablet"))
        bob.lookup(b"user:alice")
        story.say(f"bob sees {_devices(bob, b'user:alice')}")
        for who, client in (("alice", alice), ("bob", bob), ("carol", carol)):
            story.alerts(who, client.monitor())
        honest = [a for c in (alice, bob, carol) for a in c.alerts]

        story.step("5. The directory is compromised: it adds a device of its own to alice's set")
        forged = bytearray(AccountKey(secrets.token_bytes(32)).sign(
            b"user:alice", (_device("alice-phone"), _device("attacker-device")), 4))
        forged[22:54] = alice.own.public  # claims alice's account key; it cannot sign with it
        real.stage(b"user:alice", bytes(forged))
        _wait_for_entry(real)
        story.say("the operator wrote the set straight into the log, past the HTTP checks")
        try:
            bob.lookup(b"user:alice")
        except VerificationError:
            story.say("bob's lookup refuses the new set and keeps the devices he trusted")
        story.alerts("bob", bob.alerts[-1:])
        story.alerts("alice", alice.monitor())

        story.step("6. A split view: the operator shows carol another tree, where alice has its key")
        shutil.copytree(root / "directory", root / "fork", ignore=shutil.ignore_patterns("lock"))
        fork = KtDirectory.open(root / "fork", signing, vrf, reasonable_monitoring_window=RMW)
        fork_app = create_app(fork, publish_interval=INTERVAL, validate_update=update_validator(fork))
        with fork, serve_in_thread(fork_app) as fork_url, HttpTransport(fork_url) as fork_http:
            carol.transport = fork_http
            fork.stage(b"tel:+15550100", AccountKey(secrets.token_bytes(32)).sign(
                b"tel:+15550100", (_device("alice-phone"),), 1))
            _wait_for_entry(fork)
            carol.lookup(b"tel:+15550100")
            story.say(f"carol, routed to {fork_url}, sees {_devices(carol, b'tel:+15550100')} "
                      "(a first contact: nothing to compare yet)")
            story.alerts("carol", carol.monitor())
            _wait_for_entry(real)  # the real tree, too, has grown since the copy
            alice.monitor()
            story.say("alice's own monitoring of her identifiers, on the real tree, sees nothing wrong there")
            story.say("alice and carol exchange a message; their clients gossip their views of the tree")
            carol.check_gossip(alice.gossip(), "alice")
            alice.check_gossip(carol.gossip(), "carol")
            story.alerts("carol", carol.alerts[-1:])
            story.alerts("alice", alice.alerts[-1:])

    kinds = {a.kind.value for a in story.detected}
    expected = {"unsigned-device", "split-view"}
    story.step("Summary")
    story.say(f"honest steps raised {len(honest)} alert(s); attacks detected: {', '.join(sorted(kinds))}")
    return 0 if not honest and expected <= kinds else 1
