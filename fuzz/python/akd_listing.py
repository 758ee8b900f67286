"""An S3-style bucket listing page (what `veritree akd-audit` reads from a publisher) from arbitrary bytes,
from a real page with bytes changed, and from pages written for keys the fuzzer chooses: refused with
SourceError, never another exception; a page written for some keys reads as exactly those keys, flag and
token."""

from __future__ import annotations

import sys
from xml.sax.saxutils import escape

import atheris

with atheris.instrument_imports():
    from common import changed
    from veritree.akd.sources import SourceError, _parse_listing

URL = "http://bucket"
NAMESPACE = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def page(keys: list[str], truncated: bool, token: str | None, namespace: str) -> bytes:
    contents = "".join(f"<Contents><Key>{escape(k)}</Key><Size>7</Size></Contents>" for k in keys)
    more = f"<NextContinuationToken>{escape(token)}</NextContinuationToken>" if token else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult{namespace}><Name>kt</Name>'
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{contents}{more}</ListBucketResult>"
            ).encode()


HONEST = page(["1/" + "ab" * 32 + "/" + "cd" * 32, "2/" + "cd" * 32 + "/" + "ef" * 32], True, "next", NAMESPACE)


def text(fdp: atheris.FuzzedDataProvider, most: int) -> str:
    """Text XML can carry (no control characters; `\\r` is normalized away by any XML parser)."""
    return "".join(c for c in fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, most))
                   if c in "\t\n" or " " <= c < "\ufffe")


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    how = fdp.ConsumeIntInRange(0, 2)
    if how == 2:
        keys = [text(fdp, 20) for _ in range(fdp.ConsumeIntInRange(0, 5))]
        truncated, token = fdp.ConsumeBool(), text(fdp, 10) or None
        written = page(keys, truncated, token, NAMESPACE if fdp.ConsumeBool() else "")
        assert _parse_listing(written, URL) == (keys, truncated, token), "a listing read as other keys"
        return
    if how == 1:
        body = changed(fdp, HONEST, at_least=1)
    else:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        keys, truncated, token = _parse_listing(body, URL)
    except SourceError:
        return
    assert all(isinstance(k, str) for k in keys) and isinstance(truncated, bool)
    assert token is None or isinstance(token, str)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
