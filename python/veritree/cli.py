"""The `veritree` command."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="veritree", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="measure the log engine against the hashing limit and peers")
    bench.add_argument("--quick", action="store_true", help="small sizes: finishes in well under a minute")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--billion", action="store_true",
        help="also stream the root of 2^30 leaf hashes and build a 10^8-key map on disk (minutes)"
    )
    keygen = sub.add_parser(
        "keygen",
        help="make an Ed25519 signed-note key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub",
        description="Writes the signer key to PREFIX.key (created with mode 0600) and the verifier key "
        "to PREFIX.pub, each without a trailing newline; refuses to overwrite either; prints the verifier key.",
    )
    keygen.add_argument("name", metavar="NAME", help="key name, e.g. example.com/log (a log's key is named after its origin)")
    keygen.add_argument("--out", metavar="PREFIX", help="file name prefix (default: NAME with '/' replaced by '_')")
    keygen.add_argument(
        "--cosigner", action="store_true", help="a witness cosigner key (tlog-cosignature, type 0x04)"
    )
    args = parser.parse_args(argv)
    if args.command == "bench":
        from veritree import bench as bench_mod

        return bench_mod.run(quick=args.quick, json_path=args.json, billion_run=args.billion)
    if args.command == "keygen":
        return _keygen(args.name, args.out, args.cosigner)
    return 2


def _keygen(name: str, out: str | None, cosigner: bool) -> int:
    from veritree import generate_cosigner_key, generate_note_key

    try:
        signer_key, verifier_key = (generate_cosigner_key if cosigner else generate_note_key)(name)
    except ValueError as e:
        print(f"veritree keygen: {e}", file=sys.stderr)
        return 2
    prefix = out if out is not None else name.replace("/", "_")
    key_path, pub_path = prefix + ".key", prefix + ".pub"
    for path in (key_path, pub_path):
        if os.path.lexists(path):
            print(f"veritree keygen: {path} already exists; not overwriting it", file=sys.stderr)
            return 1
    try:
        _write_new(key_path, signer_key, 0o600)
        try:
            _write_new(pub_path, verifier_key, 0o644)
        except BaseException:
            os.unlink(key_path)
            raise
    except OSError as e:
        print(f"veritree keygen: {e}", file=sys.stderr)
        return 1
    print(verifier_key)
    return 0


def _write_new(path: str, text: str, mode: int) -> None:
    """Creates `path` with `mode` from the start (O_EXCL: never an existing file or link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


if __name__ == "__main__":
    sys.exit(main())
