"""What a Contact Key Verification client tells its user: alerts that are
rare and right. A new device signed by the trusted account key, or an
ordinary key rotation, raises none; each kind below means something is
really wrong, and carries the evidence."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AlertKind(enum.Enum):
    #: A device set for an identifier that its trusted account key did not
    #: sign: the directory (or someone controlling it) added a device.
    UNSIGNED_DEVICE = "unsigned-device"
    #: An identifier now names another account key. The user must re-verify.
    ACCOUNT_KEY_CHANGED = "account-key-changed"
    #: A device set older than one already seen (a removed device coming back).
    REPLAYED_DEVICE_SET = "replayed-device-set"
    #: Two people were shown different trees.
    SPLIT_VIEW = "split-view"
    #: An answer that does not verify (a forged proof, a fork, a withheld
    #: version), or a refusal the directory had no ground for.
    DIRECTORY_MISBEHAVED = "directory-misbehaved"
    #: The directory serves a smaller tree than one it showed this device
    #: before (restored from an old copy, or a shorter fork): both signed
    #: heads are the evidence.
    ROLLBACK = "rollback"
    #: This device was away longer than the directory keeps log entries:
    #: versions of its own identifier were made meanwhile that can no longer
    #: be checked one by one (the newest one still is), or versions of a
    #: contact it saw could not be monitored to the end. The draft's case of
    #: something possibly missed; nothing is known to be wrong.
    MONITORING_GAP = "monitoring-gap"
    #: The newest tree the directory serves is older than the log allows.
    STALE_TREE = "stale-tree"
    #: The directory has not answered for longer than the client tolerates.
    DIRECTORY_UNAVAILABLE = "directory-unavailable"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    #: The identifier concerned (None for the directory as a whole).
    identifier: bytes | None
    message: str
    #: What proves it: signed heads, values, the refused response.
    evidence: dict[str, bytes | int | str] = field(default_factory=dict)

    def __str__(self) -> str:
        who = f" [{self.identifier.decode(errors='replace')}]" if self.identifier else ""
        return f"ALERT {self.kind.value}{who}: {self.message}"
