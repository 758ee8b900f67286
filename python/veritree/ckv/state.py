"""Strict readers for the fields of a stored CKV client state (`CkvClient.export_state`'s JSON), also
used for the directory's health answer (`HttpTransport.health`, which turns their error into `Unavailable`).

Every field has one type and one spelling (integers in range, lowercase hex, no unknown or repeated
entries), so a state that is read holds exactly what it says: nothing malformed waits in a client for
the next monitoring run to trip on. Anything else raises `MalformedState` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)


class MalformedState(ValueError):
    """A state tagged by the sync key that export_state did not write."""


def document(body: bytes) -> Any:
    """The state's JSON; a body nested too deeply for the parser is malformed like any other."""
    try:
        return json.loads(body)
    except RecursionError:
        raise MalformedState("the state is nested too deeply") from None
    except ValueError as e:
        raise MalformedState(f"the state is not JSON: {e}") from None


def obj(value: object, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON object with exactly the `required` keys, and any of the `optional` ones."""
    if not isinstance(value, dict):
        raise MalformedState(f"{where} is not an object")
    missing = [k for k in required if k not in value]
    unknown = sorted(set(value) - set(required) - set(optional))
    if missing or unknown:
        raise MalformedState(f"{where}: " + "; ".join(
            [f"{k!r} is missing" for k in missing] + [f"{k!r} is not a field of it" for k in unknown]))
    return value


def mapping(value: object, where: str) -> dict[str, Any]:
    """A JSON object whose keys are data (identifiers, task names)."""
    if not isinstance(value, dict):
        raise MalformedState(f"{where} is not an object")
    return value


def seq(value: object, where: str, length: int | None = None) -> list[Any]:
    """A JSON array (of `length` items, when given)."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise MalformedState(f"{where} is not an array" + (f" of {length}" if length is not None else ""))
    return value


def u64(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise MalformedState(f"{where} is not an integer from 0 to 2^64 - 1: {value!r:.40}")
    return value


def u64_or_none(value: object, where: str) -> int | None:
    return None if value is None else u64(value, where)


def flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedState(f"{where} is not true or false")
    return value


def blob(value: object, where: str, *, size: int | None = None, at_most: int | None = None) -> bytes:
    """Bytes written as lowercase hex (of `size` bytes, or at most `at_most`)."""
    try:
        data = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        data = None
    if data is None or data.hex() != value:
        raise MalformedState(f"{where} is not lowercase hex: {value!r:.40}")
    if (size is not None and len(data) != size) or (at_most is not None and len(data) > at_most):
        raise MalformedState(f"{where} is {len(data)} bytes, not " + (
            f"{size}" if size is not None else f"at most {at_most}"))
    return data


def short(value: object, where: str) -> bytes:
    """1 to 255 bytes: an identifier, a device id or a device key."""
    data = blob(value, where, at_most=255)
    if not data:
        raise MalformedState(f"{where} is empty")
    return data


def distinct(items: Iterable[K], where: str) -> list[K]:
    """`items` as a list, none of them twice (a dict or set of them would drop one silently)."""
    out = list(items)
    if len(set(out)) != len(out):
        raise MalformedState(f"{where} names one entry twice")
    return out
