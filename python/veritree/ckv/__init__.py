"""Contact Key Verification on top of the KEYTRANS directory: account keys
that sign device sets, a verifying client with alerts, verification codes,
and the directory's HTTP service (`veritree.ckv.server`, imported on its own
so that clients do not load the web framework).

The HTTP parts need the server extra (`pip install 'veritree[server]'`):
`veritree.ckv.server`, and `HttpTransport` (`veritree.ckv.http`), which this
package imports only when it is first asked for, so that the rest works
without the extra."""

from __future__ import annotations

from typing import TYPE_CHECKING

from veritree.ckv.accounts import AccountKey, Device, DeviceSet, open_device_set, update_validator, validate_update
from veritree.ckv.alerts import Alert, AlertKind
from veritree.ckv.client import CkvClient, Contact, config_fingerprint
from veritree.ckv.codes import CodeExchange, check_public_code, format_safety_number, public_code, safety_number
from veritree.ckv.registration import Authorize, registration_token, token_authorizer
from veritree.ckv.state import MalformedState
from veritree.ckv.transport import Health, LocalTransport, Transport, Unavailable

if TYPE_CHECKING:
    from veritree.ckv.http import HttpTransport as HttpTransport

__all__ = [
    "AccountKey",
    "Alert",
    "AlertKind",
    "Authorize",
    "CkvClient",
    "CodeExchange",
    "Contact",
    "Device",
    "DeviceSet",
    "Health",
    "LocalTransport",
    "MalformedState",
    "Transport",
    "Unavailable",
    "check_public_code",
    "config_fingerprint",
    "format_safety_number",
    "open_device_set",
    "public_code",
    "registration_token",
    "safety_number",
    "token_authorizer",
    "update_validator",
    "validate_update",
]


def __getattr__(name: str) -> object:
    """`HttpTransport`, imported when first asked for (it needs the server extra)."""
    if name == "HttpTransport":
        from veritree.ckv.http import HttpTransport

        return HttpTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
