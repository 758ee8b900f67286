"""Who may register or change an identifier through the directory's service.

The service's own check (`veritree.ckv.accounts.update_validator`) already
keeps an identifier with the account key that first registered it: a change
must be signed by that key. What it cannot know is who should get an
unclaimed identifier: by default, **whoever asks first**, which suits a demo
and a closed network, not a messaging service whose identifiers are phone
numbers and user names it hands out itself.

An `Authorize` callable closes that: `create_app(authorize=...)` calls it with
every update's identifier, whether the identifier is new, and the request's
`Authorization` header, before the directory sees the update; it refuses by
raising `PermissionError` (the client gets 403 with its message).

`token_authorizer(secret)` is the mechanism `veritree serve
--registration-secret FILE` uses: the messaging service, which decides who
owns an identifier (it verified the phone number), issues that owner a
per-identifier token, `registration_token(secret, identifier)` (an HMAC of the
identifier under a secret the service and the directory share), and the
owner's client sends it as ``Authorization: Bearer <token>`` with each update
of that identifier (`HttpTransport(tokens={identifier: token})`). A token
opens one identifier only and never expires; rotate the secret to revoke them
all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

__all__ = ["Authorize", "read_registration_secret", "registration_token", "token_authorizer"]

#: ``authorize(identifier, new, authorization)``: returns to allow the update,
#: raises `PermissionError` to refuse it. `new`: the identifier has no
#: version yet; `authorization`: the request's ``Authorization`` header (None
#: when absent).
Authorize = Callable[[bytes, bool, str | None], None]

_CONTEXT = b"veritree registration token v1\x00"
#: Fewest bytes of a registration secret.
MIN_SECRET = 32


def registration_token(secret: bytes, identifier: bytes) -> str:
    """The token that lets its holder register and change `identifier` (base64url, unpadded)."""
    _check_secret(secret)
    mac = hmac.new(secret, _CONTEXT + identifier, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_authorizer(secret: bytes) -> Authorize:
    """An `Authorize` that lets an update through only with the identifier's own token as a bearer token."""
    _check_secret(secret)

    def authorize(identifier: bytes, new: bool, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PermissionError("this directory needs a registration token for the identifier "
                                  "(Authorization: Bearer <token>)")
        if not hmac.compare_digest(token.strip().encode(), registration_token(secret, identifier).encode()):
            raise PermissionError("the registration token is not the one for this identifier")

    return authorize


def read_registration_secret(path: str) -> bytes:
    """The secret in `path` (at least 32 bytes; the file must be owner-only: it mints every identifier)."""
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise ValueError(f"{path} holds the registration secret but other users can read it "
                         f"(mode {st.st_mode & 0o777:04o}); make it owner-only with `chmod 600 {path}`")
    with open(path, "rb") as f:
        secret = f.read(1 << 16)
    _check_secret(secret)
    return secret


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET:
        raise ValueError(f"a registration secret is at least {MIN_SECRET} bytes, not {len(secret)}")
