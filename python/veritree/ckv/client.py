"""The verifying client of a Contact Key Verification directory.

One `CkvClient` runs on each device. It looks contacts up and verifies every
answer (the KEYTRANS proofs through `veritree.KtClient`, then the account
key's signature on the device set); it owns and monitors its account's
identifiers; it gossips its view of the tree with peers to catch split
views; and it keeps the trust it has built (account keys of contacts,
verification marks) in a state that syncs across the account's devices.
Problems become `Alert`s, raised only when something is really wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from veritree._native import KtClient, VerificationError
from veritree.ckv.accounts import AccountKey, Device, DeviceSet, open_device_set
from veritree.ckv.alerts import Alert, AlertKind
from veritree.ckv.codes import check_public_code, public_code
from veritree.ckv.transport import Transport, Unavailable

STATE_MAGIC = b"veritree ckv state v1\n"
T = TypeVar("T")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Contact:
    """What this account trusts about a contact's identifier."""

    identifier: bytes
    account_key: bytes
    epoch: int
    devices: dict[bytes, bytes]
    #: Codes were compared with this account key (lost when it changes).
    verified: bool = False


@dataclass
class _Own:
    """This account: its key (the secret only on devices that hold it),
    identifiers, and the device set it last signed or accepted."""

    public: bytes
    secret: bytes | None = field(repr=False)
    identifiers: list[bytes] = field(default_factory=list)
    devices: DeviceSet | None = None
    #: The newest epoch seen per identifier: an older one is a replay.
    epochs: dict[bytes, int] = field(default_factory=dict)


@dataclass
class CkvClient:
    """A device's client of the directory behind `transport`."""

    transport: Transport
    kt: KtClient
    #: The directory's configuration, pinned when the client first met it.
    config: bytes
    clock: Callable[[], int] = now_ms
    #: How long the directory may stay silent before an alert, ms.
    unavailable_after: int = 3_600_000
    contacts: dict[bytes, Contact] = field(default_factory=dict)
    own: _Own | None = None
    alerts: list[Alert] = field(default_factory=list)
    last_answer: int | None = None

    @classmethod
    def connect(cls, transport: Transport, *, config: bytes | None = None, clock: Callable[[], int] = now_ms,
                unavailable_after: int = 3_600_000) -> CkvClient:
        """A fresh client of the directory behind `transport`; pass the
        directory's `config` when the application ships it, rather than
        trusting the first answer."""
        config = transport.config() if config is None else config
        return cls(transport, KtClient(config), config, clock, unavailable_after)

    # -- talking to the directory: every answer verified, every failure judged

    def _ask(self, what: str, send: Callable[[bytes], bytes], request: bytes,
             verify: Callable[[bytes, bytes, int], T], identifier: bytes | None = None) -> T:
        try:
            response = send(request)
        except Unavailable as e:
            self._silent(str(e))
            raise
        try:
            out = verify(request, response, self.clock())
        except (VerificationError, ValueError) as e:  # a malformed answer is no better than a forged one
            if "ahead of this clock" in str(e):
                raise  # this device's clock is behind: not the directory's doing
            kind = AlertKind.STALE_TREE if "stale tree" in str(e) else AlertKind.DIRECTORY_MISBEHAVED
            self._alert(kind, identifier, f"the directory's answer to {what} does not verify: {e}",
                        request=request, response=response)
            raise VerificationError(f"the answer to {what} does not verify: {e}") from e
        self.last_answer = self.clock()
        return out

    def _silent(self, reason: str) -> None:
        """An unanswered request alerts only once the silence is long: a
        dropped connection is not an attack."""
        since = self.last_answer
        if since is not None and self.clock() - since > self.unavailable_after:
            if not any(a.kind is AlertKind.DIRECTORY_UNAVAILABLE for a in self.alerts):
                self._alert(AlertKind.DIRECTORY_UNAVAILABLE, None,
                            f"no answer from the directory for {(self.clock() - since) // 1000} s: {reason}")

    def _alert(self, kind: AlertKind, identifier: bytes | None, message: str, **evidence: bytes | int | str) -> None:
        self.alerts.append(Alert(kind, identifier, message, evidence))

    def _start(self) -> int:
        """The rightmost distinguished entry: where ownership starts."""
        req = self.kt.distinguished_request()
        recent = self._ask("a distinguished-heads request", self.transport.distinguished, req,
                           self.kt.verify_distinguished)
        assert recent, "the root entry is always distinguished"
        return recent[-1][0]

    # -- this account

    def create_account(self, identifiers: Sequence[bytes], device: Device,
                       account: AccountKey | None = None) -> AccountKey:
        """Registers a new account under `identifiers` with its first device."""
        if self.own is not None:
            raise ValueError("this client already has an account")
        account = account or AccountKey.generate()
        self.own = _Own(account.public, account.secret, list(identifiers))
        start = self._start()
        for identifier in identifiers:
            req = self.kt.owner_init_request(identifier, start)
            greatest = self._ask("owner initialization", self.transport.owner_init, req,
                                 self.kt.verify_owner_init, identifier)
            if greatest is not None:
                raise ValueError(f"{identifier!r} is already registered")
        self._publish(lambda _: (device,))
        return account

    def add_device(self, device: Device) -> None:
        self._publish(lambda ds: ds + (device,))

    def remove_device(self, device_id: bytes) -> None:
        self._publish(lambda ds: tuple(d for d in ds if d.device_id != device_id))

    def _own_with_secret(self) -> tuple[_Own, AccountKey]:
        if self.own is None or self.own.secret is None:
            raise ValueError("only a device holding the account key can change the account's devices")
        return self.own, AccountKey(self.own.secret)

    def _publish(self, change: Callable[[tuple[Device, ...]], tuple[Device, ...]]) -> None:
        """Catches up with the account's other devices, applies `change` to
        the device set, signs it for each identifier and has the directory
        add it; then checks the entry by owner monitoring (an entry that is
        distinguished is checked only there, as the draft has it)."""
        own, account = self._own_with_secret()
        for identifier in own.identifiers:
            self._catch_up(identifier)
        current = own.devices
        devices = DeviceSet(own.public, current.epoch + 1 if current else 1, change(current.devices if current else ()))
        for identifier in own.identifiers:
            value = account.sign(identifier, devices.devices, devices.epoch)
            req = self.kt.update_request(identifier, [value])
            added = [v for _, v in self._ask("an update", self.transport.update, req, self.kt.verify_update,
                                             identifier)]
            self._judge_own(identifier, added)
            if value not in added:
                raise ValueError(f"{identifier!r} changed meanwhile (another device?): try again")
            req = self.kt.owner_monitor_request(identifier)
            self._ask("owner monitoring", self.transport.owner_monitor, req, self.kt.verify_owner_monitor, identifier)

    def monitor(self) -> list[Alert]:
        """Checks this account's identifiers (every version the directory
        made since, and its distinguished entries) and every contact
        monitored; returns the alerts raised by this call."""
        before = len(self.alerts)
        if self.own is not None:
            for identifier in self.own.identifiers:
                self._monitor_own(identifier)
        for label in self.kt.monitored_labels:
            req = self.kt.monitor_request(label)
            self._ask("contact monitoring", self.transport.monitor, req, self.kt.verify_monitor, label)
        return self.alerts[before:]

    def _monitor_own(self, identifier: bytes) -> None:
        self._catch_up(identifier)
        req = self.kt.owner_monitor_request(identifier)
        self._ask("owner monitoring", self.transport.owner_monitor, req, self.kt.verify_owner_monitor, identifier)

    def _catch_up(self, identifier: bytes) -> None:
        """Hears of every version of our identifier made since this device
        last looked, one log entry at a time, and judges each."""
        while True:
            req = self.kt.update_request(identifier)
            try:
                added = self._ask("an update", self.transport.update, req, self.kt.verify_update, identifier)
            except ValueError:
                return  # nothing newer than what this device knows
            self._judge_own(identifier, [v for _, v in added])

    def _judge_own(self, identifier: bytes, values: list[bytes]) -> None:
        """A version of our own identifier is fine when our account key
        signed it (this device, or another of the account's) at a newer
        epoch than the identifier had."""
        assert self.own is not None
        for value in values:
            try:
                ds = open_device_set(identifier, value)
            except VerificationError as e:
                self._alert(AlertKind.UNSIGNED_DEVICE, identifier,
                            f"the directory added a device set for your identifier that your account key "
                            f"did not sign ({e})", value=value)
                continue
            if ds.account_key != self.own.public:
                self._alert(AlertKind.UNSIGNED_DEVICE, identifier,
                            "the directory added a device set for your identifier under another account key",
                            value=value, account_key=ds.account_key.hex())
            elif ds.epoch <= self.own.epochs.get(identifier, 0):
                self._alert(AlertKind.REPLAYED_DEVICE_SET, identifier,
                            f"the directory re-added your device set {ds.epoch}, older than "
                            f"{self.own.epochs[identifier]}", value=value)
            else:
                self.own.epochs[identifier] = ds.epoch
                if self.own.devices is None or ds.epoch > self.own.devices.epoch:
                    self.own.devices = ds  # another of this account's devices changed the set

    # -- contacts

    def lookup(self, identifier: bytes) -> Contact:
        """The contact's verified devices. A changed set is accepted only
        when the account key already trusted signed it, at a newer epoch;
        anything else raises an alert (and the old trust stays)."""
        req = self.kt.search_request(identifier)
        found = self._ask("a search", self.transport.search, req, self.kt.verify_search, identifier)
        value = found.value
        try:
            ds = open_device_set(identifier, value)
        except VerificationError as e:
            self._alert(AlertKind.UNSIGNED_DEVICE, identifier,
                        f"the directory serves a device set its account key did not sign ({e})", value=value)
            raise
        known = self.contacts.get(identifier)
        if known is None:
            known = Contact(identifier, ds.account_key, ds.epoch, ds.device_keys())
            self.contacts[identifier] = known
        elif ds.account_key != known.account_key:
            self._alert(AlertKind.ACCOUNT_KEY_CHANGED, identifier,
                        "this contact's account key changed" + (": compare codes again" if known.verified else ""),
                        old=known.account_key.hex(), new=ds.account_key.hex())
            self.contacts[identifier] = known = Contact(identifier, ds.account_key, ds.epoch, ds.device_keys())
        elif ds.epoch < known.epoch:
            self._alert(AlertKind.REPLAYED_DEVICE_SET, identifier,
                        f"the directory serves device set {ds.epoch}, older than {known.epoch} seen before",
                        value=value)
        elif ds.epoch > known.epoch:
            known.epoch, known.devices = ds.epoch, ds.device_keys()
        return known

    def mark_verified(self, identifier: bytes, account_key: bytes) -> None:
        """After two people's codes matched for `account_key`."""
        contact = self.contacts.get(identifier)
        if contact is None or contact.account_key != account_key:
            raise ValueError("verify the account key the directory serves for this contact")
        contact.verified = True

    def public_code(self) -> str:
        if self.own is None:
            raise ValueError("this client has no account")
        return public_code(self.own.public)

    def check_public_code(self, identifier: bytes, code: str) -> bool:
        """Whether a contact's published code matches the key the directory serves."""
        return check_public_code(code, self.lookup(identifier).account_key)

    # -- split views

    def gossip(self) -> bytes:
        """This client's view of the tree, to hand to peers (it names no labels)."""
        return self.kt.gossip()

    def check_gossip(self, gossip: bytes, peer: str = "a peer", attempts: int = 5) -> bool:
        """Asks the directory to extend a peer's view, and this client's,
        and requires the two to meet at one size with one root. Only the
        signed head and the subtree heads under it count (the rest of the
        gossip is the peer's word), so a peer cannot make the directory look
        split. False, with a SPLIT_VIEW alert, when the directory showed the
        peer another tree; ValueError or VerificationError for gossip that
        is not a view of this log signed by its key."""
        probe = KtClient.from_gossip(gossip, self.config)
        for _ in range(attempts):  # a publication between the two requests: ask again
            req = probe.distinguished_request()
            try:
                probe.verify_distinguished(req, self.transport.distinguished(req), self.clock())
            except (ValueError, VerificationError) as e:
                head = probe.signed_head
                assert head is not None, "gossip always carries a head"
                self._alert(AlertKind.SPLIT_VIEW, None,
                            f"the directory cannot prove consistent the tree {peer} was shown ({e})",
                            size=head[0], peer_root=head[1].hex(), peer_signature=head[2].hex())
                return False
            own = self.kt.distinguished_request()
            self._ask("a distinguished-heads request", self.transport.distinguished, own, self.kt.verify_distinguished)
            theirs, mine = probe.signed_head, self.kt.signed_head
            assert theirs is not None and mine is not None, "both views hold a head now"
            if theirs[0] == mine[0]:
                if theirs[1] == mine[1]:
                    return True
                self._alert(AlertKind.SPLIT_VIEW, None,
                            f"{peer} was shown another tree of {mine[0]} entries, signed by the directory",
                            size=mine[0], peer_root=theirs[1].hex(), peer_signature=theirs[2].hex(),
                            my_root=mine[1].hex(), my_signature=mine[2].hex())
                return False
        self._alert(AlertKind.SPLIT_VIEW, None,
                    f"the directory never showed {peer}'s view and this one the same tree in {attempts} tries")
        return False

    # -- the state an account's devices share

    def export_state(self, sync_key: bytes, *, include_secret: bool = False) -> bytes:
        """The client's state, authenticated with `sync_key` (HMAC-SHA256),
        for another device of the account. The account's secret key is in
        it only when asked for: carry such a state only over a channel that
        keeps it confidential."""
        own = None
        if self.own is not None:
            own = {
                "public": self.own.public.hex(),
                "secret": self.own.secret.hex() if include_secret and self.own.secret else None,
                "identifiers": [i.hex() for i in self.own.identifiers],
                "epochs": {i.hex(): e for i, e in self.own.epochs.items()},
                "devices": None if self.own.devices is None else {
                    "epoch": self.own.devices.epoch,
                    "devices": [[d.device_id.hex(), d.key.hex()] for d in self.own.devices.devices],
                },
            }
        body = json.dumps({
            "config": self.config.hex(),
            "kt": self.kt.save().hex(),
            "own": own,
            "contacts": [[c.identifier.hex(), c.account_key.hex(), c.epoch,
                          [[k.hex(), v.hex()] for k, v in c.devices.items()], c.verified]
                         for c in self.contacts.values()],
        }, sort_keys=True).encode()
        return STATE_MAGIC + hmac.new(sync_key, body, hashlib.sha256).digest() + body

    @classmethod
    def import_state(cls, transport: Transport, state: bytes, sync_key: bytes, *,
                     clock: Callable[[], int] = now_ms, unavailable_after: int = 3_600_000) -> CkvClient:
        """A client from `export_state`'s bytes; VerificationError unless
        they carry a valid tag under `sync_key`."""
        if not state.startswith(STATE_MAGIC) or len(state) < len(STATE_MAGIC) + 32:
            raise ValueError("not a veritree CKV client state")
        tag, body = state[len(STATE_MAGIC):len(STATE_MAGIC) + 32], state[len(STATE_MAGIC) + 32:]
        if not hmac.compare_digest(tag, hmac.new(sync_key, body, hashlib.sha256).digest()):
            raise VerificationError("the client state was not made with this sync key, or was changed")
        doc = json.loads(body)
        client = cls(transport, KtClient.restore(bytes.fromhex(doc["kt"])), bytes.fromhex(doc["config"]), clock,
                     unavailable_after)
        if doc["own"] is not None:
            o = doc["own"]
            devices = None
            if o["devices"] is not None:
                devs = tuple(Device(bytes.fromhex(i), bytes.fromhex(k)) for i, k in o["devices"]["devices"])
                devices = DeviceSet(bytes.fromhex(o["public"]), o["devices"]["epoch"], devs)
            client.own = _Own(bytes.fromhex(o["public"]), bytes.fromhex(o["secret"]) if o["secret"] else None,
                              [bytes.fromhex(i) for i in o["identifiers"]], devices,
                              {bytes.fromhex(i): e for i, e in o["epochs"].items()})
        for ident, key, epoch, devs, verified in doc["contacts"]:
            contact = Contact(bytes.fromhex(ident), bytes.fromhex(key), epoch,
                              {bytes.fromhex(k): bytes.fromhex(v) for k, v in devs}, verified)
            client.contacts[contact.identifier] = contact
        return client
