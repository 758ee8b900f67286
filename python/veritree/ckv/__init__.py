"""Contact Key Verification on top of the KEYTRANS directory: account keys
that sign device sets, a verifying client with alerts, verification codes,
and the directory's HTTP service (`veritree.ckv.server`, imported on its own
so that clients do not load the web framework)."""

from veritree.ckv.accounts import AccountKey, Device, DeviceSet, open_device_set, update_validator, validate_update
from veritree.ckv.alerts import Alert, AlertKind
from veritree.ckv.client import CkvClient, Contact
from veritree.ckv.codes import CodeExchange, check_public_code, format_safety_number, public_code, safety_number
from veritree.ckv.http import HttpTransport
from veritree.ckv.transport import LocalTransport, Transport, Unavailable

__all__ = [
    "AccountKey",
    "Alert",
    "AlertKind",
    "CkvClient",
    "CodeExchange",
    "Contact",
    "Device",
    "DeviceSet",
    "HttpTransport",
    "LocalTransport",
    "Transport",
    "Unavailable",
    "check_public_code",
    "format_safety_number",
    "open_device_set",
    "public_code",
    "safety_number",
    "update_validator",
    "validate_update",
]
