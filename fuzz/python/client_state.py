"""A CKV client's state imported from arbitrary bytes: under the right sync key (the harness tags what the
fuzzer writes, so parsing is reached), a state is refused with ValueError or VerificationError, never a
KeyError, TypeError or other accident of parsing; under another key every state is refused.

Most inputs change the honest state's JSON structurally (any field replaced by a value of another type or
range, dropped, or given a sibling's value), as random bytes are rarely JSON. A state that is accepted must
export again to the same fields: every field was read with its type, so nothing malformed waits in the
client for the next monitoring run to trip on."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from common import REFUSALS, changed, directory
    from veritree.ckv import CkvClient, Device
    from veritree.ckv.client import STATE_MAGIC

SYNC_KEY = bytes(range(32))
_, TRANSPORT, ALICE = directory()
_BOB = CkvClient.connect(TRANSPORT)
_BOB.create_account([b"user:bob"], Device(b"tablet", b"\x09" * 32))
ALICE.lookup(b"user:bob")
ALICE.mark_verified(b"user:bob", ALICE.contacts[b"user:bob"].account_key)
ALICE.withheld = {"monitor": (5, 2)}
ALICE.behind = {b"user:alice"}
ALICE.unanswered_since = 7
GOOD = ALICE.export_state(SYNC_KEY)
DOC = json.loads(GOOD[len(STATE_MAGIC) + 32:])

# What a field may be replaced with: each JSON type, at and past the edges the state's fields have.
ODD: list[Any] = [None, True, False, 0, -1, 1, 2**64 - 1, 2**64, 1.5, float("inf"), float("nan"), "", "0", "zz",
                  "ab" * 32, "ab" * 300, [], [[]], ["", ""], [0, 0], [1, 2, 3, 4, 5], {}, {"": 0}, {"ab": -1}]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into the document, the root's included."""
    out = [path]
    if isinstance(value, dict):
        for k in sorted(value):
            out += _nodes(value[k], path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, path + (i,))
    return out


PATHS = _nodes(DOC)


def _mutated(fdp: atheris.FuzzedDataProvider) -> bytes:
    doc = copy.deepcopy(DOC)
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        path = PATHS[fdp.ConsumeIntInRange(1, len(PATHS) - 1)]
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if not isinstance(parent, dict if isinstance(path[-1], str) else list):
                continue  # an earlier change replaced what held this path with something else
            parent[path[-1]]  # noqa: B018 (still there?)
            how = fdp.ConsumeIntInRange(0, 3)
            if how == 0:
                del parent[path[-1]]
            elif how == 1:  # another field's honest value (right type, wrong place)
                other = DOC
                for key in PATHS[fdp.ConsumeIntInRange(0, len(PATHS) - 1)]:
                    other = other[key]
                parent[path[-1]] = copy.deepcopy(other)
            elif how == 2:
                parent[path[-1]] = copy.deepcopy(ODD[fdp.ConsumeIntInRange(0, len(ODD) - 1)])
            elif isinstance(parent, dict):  # a key renamed
                parent[fdp.ConsumeUnicodeNoSurrogates(8)] = parent.pop(path[-1])
            else:
                parent.append(copy.deepcopy(parent[path[-1]]))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or replaced this path
    return json.dumps(doc, sort_keys=fdp.ConsumeBool()).encode()


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    how = fdp.ConsumeIntInRange(0, 3)
    if how == 0:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif how == 1:
        body = changed(fdp, GOOD[len(STATE_MAGIC) + 32:], at_least=1)  # the honest body, a few bytes changed
    else:
        body = _mutated(fdp)
    state = STATE_MAGIC + hmac.new(SYNC_KEY, body, hashlib.sha256).digest() + body
    try:
        client = CkvClient.import_state(TRANSPORT, state, SYNC_KEY)
    except REFUSALS:
        pass
    else:
        again = client.export_state(SYNC_KEY)
        assert CkvClient.import_state(TRANSPORT, again, SYNC_KEY).export_state(SYNC_KEY) == again, (
            "an accepted state that does not export to itself")
        written = json.loads(again[len(STATE_MAGIC) + 32:])
        del written["kt"]
        assert written == _canonical(body), "an accepted state holds a field it did not read as written"
    try:
        CkvClient.import_state(TRANSPORT, state, b"another key")
    except REFUSALS:
        return
    raise AssertionError("a state accepted under another sync key")


def _canonical(body: bytes) -> Any:
    """What export_state writes for an accepted body: the same document, with what it leaves out by default
    (the secret) and fills in for older states (the monitoring timers) as export writes them. The KEYTRANS
    client's own state (`kt`) is left out: `KtClient.restore` heals monitoring maps saved before their order
    was kept, so it need only reach a fixed point (the assertion before this one)."""
    doc = json.loads(body)
    del doc["kt"]
    if doc.get("own") is not None:
        doc["own"]["secret"] = None
        doc["own"].setdefault("judged", {})
    doc.setdefault("monitoring", {})
    for key, empty in (("last_answer", None), ("unanswered_since", None), ("behind", []), ("withheld", {})):
        doc["monitoring"].setdefault(key, empty)
    doc["monitoring"]["behind"] = sorted(doc["monitoring"]["behind"])
    return doc


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
