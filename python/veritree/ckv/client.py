"""The verifying client of a Contact Key Verification directory.

One `CkvClient` runs on each device. It looks contacts up and verifies every
answer (the KEYTRANS proofs through `veritree.KtClient`, then the account
key's signature on the device set); it owns and monitors its account's
identifiers; it gossips its view of the tree with peers to catch split
views; and it keeps the trust it has built (account keys of contacts,
verification marks) in a state that syncs across the account's devices.
Problems become `Alert`s, raised only when something is really wrong.

What a caller can get besides alerts: `VerificationError` (an answer did
not verify; an alert says why and keeps the evidence), `Unavailable` (no
answer; an alert follows only once the silence is long), `ClockError` (this
device's clock is behind the directory's: not the directory's fault),
and `ValueError` for this client's own mistakes or a refusal of the request
(documented per method). A `CkvClient` may be shared between threads: each
public method holds the client's lock while it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

from veritree._native import ClockError, KtClient, LogBehindError, VerificationError
from veritree.ckv import state as st
from veritree.ckv.accounts import AccountKey, Device, DeviceSet, open_device_set
from veritree.ckv.alerts import Alert, AlertKind
from veritree.ckv.clock import now_ms
from veritree.ckv.codes import check_public_code, public_code
from veritree.ckv.transport import Transport, Unavailable

STATE_MAGIC = b"veritree ckv state v1\n"
#: Most owner monitoring answers one `monitor()` asks for per identifier;
#: each must make progress (the directory answers 16 distinguished entries
#: a time), so this covers over a thousand entries unmonitored.
MAX_OWNER_ROUNDS = 64
#: Most versions of one identifier heard of per catch-up (one entry each).
MAX_CATCH_UP = 1024
#: Most entries one contact monitoring request carries (the draft's limit).
MONITOR_CHUNK = 255
#: A monitoring task the directory leaves unanswered while it answers other
#: requests is withheld once this many attempts in a row span
#: `unavailable_after` (one dropped connection is not evidence).
WITHHELD_ATTEMPTS = 3
T = TypeVar("T")
P = ParamSpec("P")


def _locked(method: Callable[Concatenate[CkvClient, P], T]) -> Callable[Concatenate[CkvClient, P], T]:
    """Runs a public method under the client's lock: a response must be
    verified by the state its request was made from."""

    def run(self: CkvClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    run.__name__, run.__qualname__, run.__doc__ = method.__name__, method.__qualname__, method.__doc__
    return run


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
    #: The greatest version judged per identifier: owner monitoring that
    #: starts again (after a long absence) may hear of it a second time.
    judged: dict[bytes, int] = field(default_factory=dict)


def config_fingerprint(config: bytes) -> str:
    """The fingerprint a client pins a directory by: the SHA-256 of its
    encoded configuration (keys, suite, modes), in hex."""
    return hashlib.sha256(config).hexdigest()


def _versions(value: object, where: str) -> dict[bytes, int]:
    """A stored map from identifiers to epochs or versions."""
    return {st.short(i, where): st.u64(v, where) for i, v in st.mapping(value, where).items()}


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
    #: When the directory last answered (local clock, ms), and when the
    #: first attempt since went unanswered (None while it answers).
    last_answer: int | None = None
    unanswered_since: int | None = None
    #: Identifiers whose owner monitoring has not reached the rightmost
    #: distinguished entry yet (the next `monitor()` goes on).
    behind: set[bytes] = field(default_factory=set)
    #: Per monitoring task left unanswered (refused or dropped): when the
    #: first attempt since its last answer was made, and how many since.
    withheld: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @classmethod
    def connect(cls, transport: Transport, *, config: bytes | None = None, fingerprint: str | None = None,
                clock: Callable[[], int] = now_ms, unavailable_after: int = 3_600_000) -> CkvClient:
        """A fresh client of the directory behind `transport`. Pin the
        directory: pass its `config` when the application ships it, or the
        `fingerprint` of it (`config_fingerprint`, which `veritree serve`
        prints): the configuration the directory sends must then match it
        (VerificationError otherwise). With neither, the first answer is
        trusted."""
        if config is None:
            config = transport.config()
            if fingerprint is not None and not hmac.compare_digest(config_fingerprint(config), fingerprint.lower()):
                raise VerificationError("the directory's configuration is not the pinned one (its fingerprint "
                                        f"is {config_fingerprint(config)}, not {fingerprint})")
        elif fingerprint is not None:
            raise ValueError("pin either the configuration or its fingerprint, not both")
        return cls(transport, KtClient(config), config, clock, unavailable_after)

    # -- talking to the directory: every answer verified, every failure judged

    def _send(self, what: str, send: Callable[[bytes], bytes], request: bytes, *, task: str | None = None) -> bytes:
        """The directory's answer to `request`. No answer is silence (an
        alert once it lasts). A `task` (monitoring of one label, which an
        honest directory always answers) left unanswered, refused or
        dropped, while the directory answers other requests, is withheld:
        an alert once that lasts. A refusal that says this client saw more
        of the log than the directory serves is judged: proof of a rollback,
        or a false refusal."""
        try:
            response = send(request)
        except Unavailable as e:
            self._silent(str(e))
            self._unanswered(task, str(e))
            raise
        except LogBehindError as e:
            raise self._behind(what, request, e) from e
        except ValueError as e:
            self._answered()
            self._unanswered(task, f"refused: {e}")
            raise
        self._answered()
        self.withheld.pop(task or "", None)
        return response

    def _check(self, what: str, verify: Callable[[bytes, bytes, int], T], request: bytes, response: bytes,
               identifier: bytes | None, *, alert: bool = True) -> T:
        """Verifies an answer; one that fails is an alert with the evidence
        (unless the caller judges it itself) and a VerificationError.
        ClockError (this clock is behind the log) goes up as it is."""
        try:
            return verify(request, response, self.clock())
        except VerificationError as e:
            if alert:
                self._fail(what, e, identifier, request, response)
            raise VerificationError(f"the answer to {what} does not verify: {e}") from e

    def _fail(self, what: str, e: Exception, identifier: bytes | None, request: bytes, response: bytes) -> None:
        kind = AlertKind.STALE_TREE if "stale tree" in str(e) else AlertKind.DIRECTORY_MISBEHAVED
        self._alert(kind, identifier, f"the directory's answer to {what} does not verify: {e}",
                    request=request, response=response)

    def _ask(self, what: str, send: Callable[[bytes], bytes], request: bytes,
             verify: Callable[[bytes, bytes, int], T], identifier: bytes | None = None, *,
             task: str | None = None) -> T:
        response = self._send(what, send, request, task=task)
        return self._check(what, verify, request, response, identifier)

    def _answered(self) -> None:
        self.last_answer, self.unanswered_since = self.clock(), None

    def _silent(self, reason: str) -> None:
        """An unanswered request alerts only once the directory has answered
        none of this device's attempts for `unavailable_after` ms: a dropped
        connection after a quiet spell is not an attack."""
        now = self.clock()
        if self.unanswered_since is None:
            self.unanswered_since = now
        elif now - self.unanswered_since >= self.unavailable_after:
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.unanswered_since / 1000))
            self._alert(AlertKind.DIRECTORY_UNAVAILABLE, None,
                        f"the directory has answered none of this device's requests since {since}",
                        silent_ms=now - self.unanswered_since, last=reason)

    def _unanswered(self, task: str | None, reason: str) -> None:
        """One more unanswered attempt at `task`: withheld once the attempts
        since its last answer are `WITHHELD_ATTEMPTS` or more, span
        `unavailable_after`, and the directory answered something else
        meanwhile (so this is not the network)."""
        if task is None:
            return
        now = self.clock()
        since, attempts = self.withheld.get(task, (now, 0))
        self.withheld[task] = (since, attempts + 1)
        answered_others = self.last_answer is not None and self.last_answer > since
        if attempts + 1 >= WITHHELD_ATTEMPTS and now - since >= self.unavailable_after and answered_others:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since / 1000))
            self._alert(AlertKind.DIRECTORY_MISBEHAVED, None,
                        f"the directory answers this device but has not answered {task} since {when}",
                        attempts=attempts + 1, last=reason)

    def _behind(self, what: str, request: bytes, refusal: LogBehindError) -> VerificationError:
        """A refusal saying this client's view is ahead of the log: with a
        smaller head the log signed, proof of a rollback (both heads kept);
        otherwise a refusal the log had no ground for."""
        head = refusal.args[1] if len(refusal.args) > 1 and isinstance(refusal.args[1], bytes) else b""
        mine = self.kt.signed_head
        try:
            if mine is None:
                raise VerificationError("this device has seen no tree yet")
            size, root, signature = self.kt.judge_behind(head)
        except (VerificationError, ValueError) as e:
            self._alert(AlertKind.DIRECTORY_MISBEHAVED, None,
                        f"the directory refused {what} as ahead of its log, without proof ({e})",
                        request=request, refusal=head)
            return VerificationError(f"the directory refused {what} without ground: {e}")
        self._alert(AlertKind.ROLLBACK, None,
                    f"the directory now serves a tree of {size} entries; it showed this device {mine[0]}",
                    size=size, root=root.hex(), signature=signature.hex(),
                    my_size=mine[0], my_root=mine[1].hex(), my_signature=mine[2].hex())
        return VerificationError(f"the directory rolled back from {mine[0]} to {size} entries")

    def _alert(self, kind: AlertKind, identifier: bytes | None, message: str, **evidence: bytes | int | str) -> None:
        """Raises an alert, once: the same finding again adds nothing."""
        if not any((a.kind, a.identifier, a.message) == (kind, identifier, message) for a in self.alerts):
            self.alerts.append(Alert(kind, identifier, message, evidence))

    def _start(self) -> int:
        """The rightmost distinguished entry: where ownership starts."""
        req = self.kt.distinguished_request()
        recent = self._ask("a distinguished-heads request", self.transport.distinguished, req,
                           self.kt.verify_distinguished, task="the distinguished heads")
        assert recent, "the root entry is always distinguished"
        return recent[-1][0]

    # -- this account

    @_locked
    def create_account(self, identifiers: Sequence[bytes], device: Device,
                       account: AccountKey | None = None) -> AccountKey:
        """Registers a new account under `identifiers` with its first
        device. ValueError if this client has another account already or an
        identifier is registered (by default the directory lets whoever asks
        first register an identifier; it may ask for a registration token:
        `veritree.ckv.registration`). Safe to retry with the same arguments
        after a refusal or a lost answer: the retry finishes the registration."""
        if self.own is not None:
            own = self.own
            same = list(identifiers) == own.identifiers and (account is None or account.public == own.public)
            if not same or own.secret is None:
                raise ValueError("this client already has an account")
            self._publish(lambda ds: ds if device in ds else ds + (device,))
            return AccountKey(own.secret)
        account = account or AccountKey.generate()
        self.own = _Own(account.public, account.secret, list(identifiers))
        start = self._start()
        for identifier in identifiers:
            req = self.kt.owner_init_request(identifier, start)
            greatest = self._ask("owner initialization", self.transport.owner_init, req,
                                 self.kt.verify_owner_init, identifier)
            if greatest is not None:
                self.own = None  # nothing was published: another account may be made
                raise ValueError(f"{identifier!r} is already registered")
        self._publish(lambda _: (device,))
        return account

    @_locked
    def add_device(self, device: Device) -> None:
        """Adds `device` to the account's set (on a device holding the
        account key; ValueError otherwise, or if its id names another key).
        Safe to retry after a lost answer: a device already in the set is
        not added twice, and identifiers still behind are brought up."""
        self._publish(lambda ds: ds if device in ds else ds + (device,))

    @_locked
    def remove_device(self, device_id: bytes) -> None:
        """Removes the device `device_id` from the account's set (safe to retry)."""
        self._publish(lambda ds: tuple(d for d in ds if d.device_id != device_id))

    def _own_with_secret(self) -> tuple[_Own, AccountKey]:
        if self.own is None or self.own.secret is None:
            raise ValueError("only a device holding the account key can change the account's devices")
        return self.own, AccountKey(self.own.secret)

    def _publish(self, change: Callable[[tuple[Device, ...]], tuple[Device, ...]]) -> None:
        """Catches up with the account's other devices, applies `change` to
        the device set and signs it, at a new epoch, for each identifier not
        holding it yet; the directory adds it, and owner monitoring checks
        it (an entry that is distinguished is checked only there, as the
        draft has it). A change that changes nothing only brings up the
        identifiers an interrupted change left behind. ValueError if another
        device changed an identifier meanwhile."""
        own, account = self._own_with_secret()
        for identifier in own.identifiers:
            self._sync_own(identifier)
        current = own.devices
        devices = change(current.devices if current else ())
        target = current
        if current is None or devices != current.devices:
            target = DeviceSet(own.public, current.epoch + 1 if current else 1, devices)
        assert target is not None, "a first device set is a change"
        for identifier in own.identifiers:
            if own.epochs.get(identifier, 0) >= target.epoch:
                continue  # holds it already (a retry after a lost answer)
            value = account.sign(identifier, target.devices, target.epoch)
            req = self.kt.update_request(identifier, [value])
            added = self._ask("an update", self.transport.update, req, self.kt.verify_update, identifier)
            self._judge_own(identifier, added)
            if value not in [v for _, v in added]:
                raise ValueError(f"{identifier!r} changed meanwhile (another device?): try again")
            self._sync_own(identifier)

    def _behind_identifiers(self) -> bool:
        """Whether an identifier holds an older set than the account's
        newest (a change interrupted between identifiers)."""
        own = self.own
        return own is not None and own.devices is not None and any(
            own.epochs.get(i, 0) < own.devices.epoch for i in own.identifiers)

    @_locked
    def monitor(self) -> list[Alert]:
        """Checks this account's identifiers (every version the directory
        made since, and its distinguished entries, until owner monitoring
        reaches the rightmost one or `MAX_OWNER_ROUNDS` answers) and every
        contact monitored; returns the alerts raised by this call.
        `caught_up` says whether owner monitoring got all the way. On a
        device holding the account key, identifiers a device change left
        behind (interrupted between them) get the account's newest set."""
        before = len(self.alerts)
        if self.own is not None:
            for identifier in self.own.identifiers:
                self._sync_own(identifier)
            if self.own.secret is not None and self._behind_identifiers():
                self._publish(lambda ds: ds)  # finish a change interrupted between identifiers
        for label in self.kt.monitored_labels:
            self._monitor_contact(label)
        return self.alerts[before:]

    @property
    def caught_up(self) -> bool:
        """Whether owner monitoring of every identifier reached the
        rightmost distinguished entry at the last `monitor()`."""
        return not self.behind

    def _sync_own(self, identifier: bytes) -> None:
        """Hears of every version of our identifier made since this device
        last looked, then owner-monitors it until it reaches the rightmost
        distinguished entry. What the owner believes comes from verified
        answers only: a refusal to tell of new versions proves nothing, and
        owner monitoring then finds any version withheld."""
        start = self._start()  # a fresh view: is the owner's start still kept?
        self._catch_up(identifier)
        if self.kt.owner_expired(identifier):
            self._reinit(identifier, start)
        for _ in range(MAX_OWNER_ROUNDS):
            req = self.kt.owner_monitor_request(identifier)
            try:
                response = self._send("owner monitoring", self.transport.owner_monitor, req,
                                      task=f"owner monitoring of {identifier!r}")
            except ValueError:
                # Entries may have expired since the view above: look again.
                start = self._start()
                if not self.kt.owner_expired(identifier):
                    raise
                self._reinit(identifier, start)
                continue
            try:
                _, complete = self._check("owner monitoring", self.kt.verify_owner_monitor, req, response,
                                          identifier, alert=False)
            except VerificationError as e:
                # An honest directory stops before an entry holding a version
                # this owner has not heard of: hear of it, then go on. A
                # directory that neither tells of one nor lets monitoring on
                # hides something.
                if self._catch_up(identifier):
                    continue
                cause = e.__cause__
                self._fail("owner monitoring", cause if isinstance(cause, Exception) else e, identifier, req,
                           response)
                raise
            if complete:
                self.behind.discard(identifier)
                return
        self.behind.add(identifier)

    def _catch_up(self, identifier: bytes) -> bool:
        """Asks for the versions of our identifier made since the greatest
        this device knows, one log entry at a time, and judges each; True if
        any. A refusal ends it and proves nothing: owner monitoring checks
        that nothing was withheld."""
        heard = False
        for _ in range(MAX_CATCH_UP):
            req = self.kt.update_request(identifier)
            try:
                response = self._send("an update", self.transport.update, req)
            except ValueError:
                break
            self._judge_own(identifier, self._check("an update", self.kt.verify_update, req, response, identifier))
            heard = True
        return heard

    def _reinit(self, identifier: bytes, start: int) -> None:
        """Owner monitoring from `start` again: the old start has passed the
        log's maximum lifetime (this device was away too long). Versions the
        new start holds beyond those heard of were made meanwhile and can no
        longer be checked one by one: the draft's case of something possibly
        missed, so an alert; the current one is still judged."""
        known = {label: greatest for label, _, greatest in self.kt.owned_labels}[identifier]
        req = self.kt.owner_init_request(identifier, start)
        greatest = self._ask("owner initialization", self.transport.owner_init, req, self.kt.verify_owner_init,
                             identifier)
        if greatest is not None and (known is None or greatest > known):
            first = 0 if known is None else known + 1
            self._alert(AlertKind.MONITORING_GAP, identifier,
                        f"versions {first} to {greatest} of your identifier were made while this device was away "
                        f"longer than the directory keeps entries: they can no longer be checked one by one",
                        first=first, last=greatest)
            search = self.kt.search_request(identifier)
            current = self._ask("a search", self.transport.search, search, self.kt.verify_search, identifier)
            self._judge_own(identifier, [(current.version, current.value)])

    def _monitor_contact(self, label: bytes) -> None:
        """Contact monitoring of `label`, a chunk of the draft's 255 entries
        at a time (each chunk moves its entries onto the frontier). Refused
        after this device was away longer than the directory keeps entries,
        the positions past that age are given up, with an alert: the draft's
        case of something possibly missed."""
        for _ in range(MAX_OWNER_ROUNDS):
            whole = len(self.kt.monitoring(label)) <= MONITOR_CHUNK
            req = self.kt.monitor_request(label)
            try:
                self._ask("contact monitoring", self.transport.monitor, req, self.kt.verify_monitor, label,
                          task=f"contact monitoring of {label!r}")
            except ValueError:
                self._start()  # a fresh view: which positions has the log let go of?
                gone = self.kt.forget_expired(label)
                if not gone:
                    raise
                self._alert(AlertKind.MONITORING_GAP, label,
                            f"versions {', '.join(str(v) for _, v in gone)} of this contact were seen longer ago "
                            f"than the directory keeps entries, and could not be monitored to the end",
                            positions=",".join(str(p) for p, _ in gone))
                whole = False
            if label not in self.kt.monitored_labels or whole:
                return

    def _judge_own(self, identifier: bytes, added: list[tuple[int, bytes]]) -> None:
        """A version of our own identifier is fine when our account key
        signed it (this device, or another of the account's) at a newer
        epoch than the identifier had. A version judged before (heard of
        again after owner monitoring started over) is not judged twice."""
        assert self.own is not None
        for version, value in added:
            if version <= self.own.judged.get(identifier, -1):
                continue
            self.own.judged[identifier] = version
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

    @_locked
    def lookup(self, identifier: bytes) -> Contact:
        """The contact's verified devices. A changed set is accepted only
        when the account key already trusted signed it, at a newer epoch;
        anything else raises an alert (and the old trust stays). ValueError
        if the directory refuses (no such identifier)."""
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

    @_locked
    def mark_verified(self, identifier: bytes, account_key: bytes) -> None:
        """After two people's codes matched for `account_key`."""
        contact = self.contacts.get(identifier)
        if contact is None or contact.account_key != account_key:
            raise ValueError("verify the account key the directory serves for this contact")
        contact.verified = True

    @_locked
    def public_code(self) -> str:
        if self.own is None:
            raise ValueError("this client has no account")
        return public_code(self.own.public)

    @_locked
    def check_public_code(self, identifier: bytes, code: str) -> bool:
        """Whether a contact's published code matches the key the directory serves."""
        return check_public_code(code, self.lookup(identifier).account_key)

    # -- split views

    @_locked
    def gossip(self) -> bytes:
        """This client's view of the tree, to hand to peers (it names no labels)."""
        return self.kt.gossip()

    @_locked
    def check_gossip(self, gossip: bytes, peer: str = "a peer", attempts: int = 16) -> bool:
        """Asks the directory to extend a peer's view, and this client's,
        and requires the two to lie on one tree: equal roots at one size, or
        the smaller view's root where it ends one of the larger view's
        subtrees (a growing log rarely shows both one size). Only the signed
        head and the subtree heads under it count (the rest of the gossip is
        the peer's word), so a peer cannot make the directory look split.
        False, with a SPLIT_VIEW alert, when the directory showed the peer
        another tree, or never let the two views meet in `attempts`
        extensions of the smaller one; ValueError or VerificationError for
        gossip that is not a view of this log signed by its key. ClockError
        when this device's clock is behind the log: clock trouble, not a
        split view."""
        probe = KtClient.from_gossip(gossip, self.config)
        if not self._extend_probe(probe, peer):
            return False
        for _ in range(attempts):
            theirs, mine = probe.signed_head, self.kt.signed_head
            assert theirs is not None, "gossip always carries a head"
            if mine is not None:
                # The smaller view's root, read off the larger one's subtrees.
                small, large = (theirs, self.kt) if theirs[0] <= mine[0] else (mine, probe)
                root = large.root_at(small[0])
                if root == small[1]:
                    return True
                if root is not None:
                    self._alert(AlertKind.SPLIT_VIEW, None,
                                f"{peer} was shown another tree than this device, signed by the directory",
                                peer_size=theirs[0], peer_root=theirs[1].hex(), peer_signature=theirs[2].hex(),
                                my_size=mine[0], my_root=mine[1].hex(), my_signature=mine[2].hex())
                    return False
            # Move the smaller view on to the directory's current tree.
            if mine is None or theirs[0] > mine[0]:
                self._ask("a distinguished-heads request", self.transport.distinguished,
                          self.kt.distinguished_request(), self.kt.verify_distinguished)
            elif not self._extend_probe(probe, peer):
                return False
        self._alert(AlertKind.SPLIT_VIEW, None,
                    f"the directory never showed {peer}'s view and this one on one tree in {attempts} tries")
        return False

    def _extend_probe(self, probe: KtClient, peer: str) -> bool:
        """Has the directory extend a peer's view to its current tree; False,
        with a SPLIT_VIEW alert, when it cannot prove that tree consistent
        with the peer's."""
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
        return True

    # -- the state an account's devices share

    @_locked
    def export_state(self, sync_key: bytes, *, include_secret: bool = False) -> bytes:
        """The client's state, authenticated with `sync_key` (HMAC-SHA256),
        for another device of the account or this one's next run. The
        account's secret key is in it only when asked for: carry such a
        state only over a channel that keeps it confidential. It keeps how
        long the directory has left this device, or one monitoring task,
        unanswered (and which owner monitoring is behind), so that an app
        killed between attempts still reaches DIRECTORY_UNAVAILABLE or
        withheld monitoring: a directory cannot withhold monitoring from
        a client by outlasting its runs."""
        own = None
        if self.own is not None:
            own = {
                "public": self.own.public.hex(),
                "secret": self.own.secret.hex() if include_secret and self.own.secret else None,
                "identifiers": [i.hex() for i in self.own.identifiers],
                "epochs": {i.hex(): e for i, e in self.own.epochs.items()},
                "judged": {i.hex(): v for i, v in self.own.judged.items()},
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
            "monitoring": {
                "last_answer": self.last_answer,
                "unanswered_since": self.unanswered_since,
                "behind": sorted(i.hex() for i in self.behind),
                "withheld": {task: list(v) for task, v in self.withheld.items()},
            },
        }, sort_keys=True).encode()
        return STATE_MAGIC + hmac.new(sync_key, body, hashlib.sha256).digest() + body

    @classmethod
    def import_state(cls, transport: Transport, state: bytes, sync_key: bytes, *,
                     clock: Callable[[], int] = now_ms, unavailable_after: int = 3_600_000) -> CkvClient:
        """A client from `export_state`'s bytes; VerificationError unless
        they carry a valid tag under `sync_key`, and `MalformedState` (a
        ValueError naming the field) for a tagged body that export_state
        did not write: a field of another type or range, or unknown."""
        if not state.startswith(STATE_MAGIC) or len(state) < len(STATE_MAGIC) + 32:
            raise ValueError("not a veritree CKV client state")
        tag, body = state[len(STATE_MAGIC):len(STATE_MAGIC) + 32], state[len(STATE_MAGIC) + 32:]
        if not hmac.compare_digest(tag, hmac.new(sync_key, body, hashlib.sha256).digest()):
            raise VerificationError("the client state was not made with this sync key, or was changed")
        return cls._restore(transport, body, clock, unavailable_after)

    @classmethod
    def _restore(cls, transport: Transport, body: bytes, clock: Callable[[], int],
                 unavailable_after: int) -> CkvClient:
        """The client a state's body describes, each field read strictly (`veritree.ckv.state`)."""
        doc = st.obj(st.document(body), "the state", ("config", "kt", "own", "contacts"), ("monitoring",))
        client = cls(transport, KtClient.restore(st.blob(doc["kt"], "kt")), st.blob(doc["config"], "config"),
                     clock, unavailable_after)
        if doc["own"] is not None:
            o = st.obj(doc["own"], "own", ("public", "secret", "identifiers", "epochs", "devices"), ("judged",))
            public = st.blob(o["public"], "own.public", size=32)
            devices = None
            if o["devices"] is not None:
                d = st.obj(o["devices"], "own.devices", ("epoch", "devices"))
                pairs = [st.seq(p, "a device", 2) for p in st.seq(d["devices"], "own.devices.devices")]
                devices = DeviceSet(public, st.u64(d["epoch"], "own.devices.epoch"), tuple(
                    Device(st.short(i, "a device id"), st.short(k, "a device key"))
                    for i, k in pairs))
                try:
                    devices.body()  # a set this account could have signed: distinct ids, at most MAX_DEVICES
                except ValueError as e:
                    raise st.MalformedState(f"own.devices: {e}") from None
            client.own = _Own(
                public, None if o["secret"] is None else st.blob(o["secret"], "own.secret", size=32),
                st.distinct((st.short(i, "an identifier") for i in st.seq(o["identifiers"], "own.identifiers")),
                            "own.identifiers"),
                devices,
                _versions(o["epochs"], "own.epochs"),
                _versions(o.get("judged", {}), "own.judged"))
        for c in st.seq(doc["contacts"], "contacts"):
            ident, key, epoch, devs, verified = st.seq(c, "a contact", 5)
            identifier = st.short(ident, "a contact's identifier")
            if identifier in client.contacts:
                raise st.MalformedState("contacts names one identifier twice")
            pairs = [st.seq(p, "a contact's device", 2) for p in st.seq(devs, "a contact's devices")]
            ids = st.distinct((st.short(i, "a device id") for i, _ in pairs), "a contact's devices")
            client.contacts[identifier] = Contact(
                identifier, st.blob(key, "a contact's account key", size=32), st.u64(epoch, "a contact's epoch"),
                {i: st.short(k, "a device key") for i, (_, k) in zip(ids, pairs, strict=True)},
                st.flag(verified, "a contact's verified mark"))
        # States written before the monitoring timers were kept have none.
        timers = st.obj(doc.get("monitoring", {}), "monitoring", (),
                        ("last_answer", "unanswered_since", "behind", "withheld"))
        client.last_answer = st.u64_or_none(timers.get("last_answer"), "monitoring.last_answer")
        client.unanswered_since = st.u64_or_none(timers.get("unanswered_since"), "monitoring.unanswered_since")
        client.behind = set(st.distinct((st.short(i, "monitoring.behind")
                                         for i in st.seq(timers.get("behind", []), "monitoring.behind")),
                                        "monitoring.behind"))
        for task, v in st.mapping(timers.get("withheld", {}), "monitoring.withheld").items():
            since, attempts = st.seq(v, "a withheld task", 2)
            client.withheld[task] = (st.u64(since, "a withheld task's start"), st.u64(attempts, "its attempts"))
        return client
