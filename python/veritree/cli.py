"""The `veritree` command."""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from veritree._extras import SERVER_EXTRA, needs_server_extra
from veritree._sockets import reuse_port_socket
from veritree.ckv.registration import read_registration_secret, token_authorizer

if TYPE_CHECKING:
    from veritree import KtDirectory


class _Parser(argparse.ArgumentParser):
    """Refuses a bad command line in one line (and status 2), not with the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _number(kind: type[int] | type[float], low: float, high: float | None = None,
            low_open: bool = False) -> Callable[[str], int | float]:
    """An argparse type: a `kind` number from `low` (excluded if `low_open`) to `high`."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if value != value or (value <= low if low_open else value < low) or (high is not None and value > high):
            above = f"above {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must be {above}"
                                             + (f" and at most {high:g}" if high is not None else ""))
        return value

    return parse


_SECONDS = _number(float, 0, 10**9, low_open=True)


def main(argv: list[str] | None = None) -> int:
    from veritree import __version__

    parser = _Parser(prog="veritree", description=__doc__)
    parser.add_argument("--version", action="version", version=f"veritree {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="measure the log engine against the hashing limit and peers")
    bench.add_argument("--quick", action="store_true", help="small sizes: finishes in well under a minute")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--billion", action="store_true",
        help="also stream the root of 2^30 leaf hashes and build a 10^8-key map on disk (minutes)"
    )
    bench.add_argument(
        "--plot", metavar="DIR",
        help="also draw the results as PNG charts into DIR, one per benchmark family "
        "(needs matplotlib: pip install 'veritree[plot]')",
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
    init = sub.add_parser(
        "init",
        help="make a key directory's data folder: its signing and VRF keys and an empty log",
        description="Makes DIR (missing or empty) with the directory's signing and VRF keys (DIR/signing.key, "
        "DIR/vrf.key, mode 0600) and an empty log in DIR/log (or in the database --db names), then prints the "
        "configuration's fingerprint, which clients pin.",
    )
    serve = sub.add_parser(
        "serve",
        help="run the key directory's HTTP service (IETF KEYTRANS over HTTP)",
        description="Serves the KEYTRANS directory in DIR (made by `veritree init`, or by --create) over HTTP, "
        "publishing a log entry every --publish-interval seconds. The log lives in DIR/log (or the database "
        "--db names), its signing and VRF keys in DIR/signing.key and DIR/vrf.key; the OpenAPI description "
        "is at /openapi.json. It prints the configuration's fingerprint, which clients pin.",
    )
    for p in (init, serve):
        p.add_argument("--data", metavar="DIR", default="veritree-data",
                       help="where the log and its keys live (default: %(default)s)")
        p.add_argument(
            "--reasonable-monitoring-window", type=_number(int, 1, 2**62), default=86_400_000, metavar="MS",
            help="how often clients are expected to monitor, in ms; fixed when the log is made (default: %(default)s)",
        )
        p.add_argument(
            "--db", metavar="URL",
            help="keep the log in this PostgreSQL database (postgresql://...; the schema its search_path names) "
            "instead of DIR/log, shared by servers on any hosts with the same keys in DIR: one publishes at a "
            "time (a second waits for the database's lease and takes over when the first dies)",
        )
    serve.add_argument("--create", action="store_true",
                       help="make DIR as `veritree init` does when it is missing or empty")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_number(int, 1, 65535), default=8000,
                       help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--publish-interval", type=_SECONDS, default=1.0, metavar="SECONDS",
        help="seconds between log entries (default: %(default)s)",
    )
    serve.add_argument(
        "--registration-secret", metavar="FILE",
        help="only updates carrying the identifier's registration token (Authorization: Bearer <token>) may "
        "register or change it; FILE (owner-only, at least 32 bytes) holds the secret the tokens are made "
        "with, shared with the service that hands out identifiers (veritree.ckv.registration). Without it, "
        "whoever asks first registers an identifier; only its account key may change it after",
    )
    serve.add_argument(
        "--heartbeat", type=_SECONDS, default=600.0, metavar="SECONDS",
        help="with nothing to publish, an empty entry only this often; keep it well under the clients' "
        "max_behind (a day by default) (default: %(default)s)",
    )
    serve.add_argument(
        "--body-timeout", type=_SECONDS, default=10.0, metavar="SECONDS",
        help="a request's whole body must arrive within this long, or it is answered 408 and the connection "
        "closed (default: %(default)s)",
    )
    serve.add_argument(
        "--workers", type=_number(int, 0, 1024), default=0, metavar="N",
        help="serve from N reader processes sharing the port, beside one publisher process that takes the "
        "updates they pass on (0: one process does everything) (default: %(default)s)",
    )
    serve.add_argument(
        "--read-only", action="store_true",
        help="with --db: only answer reads (a replica's URL will do), never publish; updates are refused with 503",
    )
    serve.add_argument(
        "--max-replica-lag", type=_SECONDS, default=10.0, metavar="SECONDS",
        help="with --db on a replica: health answers 503 while the replica is further behind (default: %(default)s)",
    )
    worker = sub.add_parser("serve-worker", help=argparse.SUPPRESS)  # one reader process of `serve --workers`
    worker.add_argument("--data", required=True)
    worker.add_argument("--host", required=True)
    worker.add_argument("--port", type=int, required=True)
    worker.add_argument("--publisher-socket", required=True)
    worker.add_argument("--reasonable-monitoring-window", type=int, required=True)
    worker.add_argument("--body-timeout", type=float, required=True)
    worker.add_argument("--parent", type=int, required=True)
    worker.add_argument("--registration-secret")
    demo = sub.add_parser(
        "demo",
        help="the whole story against a real local server: accounts, devices, lookups, codes, and two attacks",
    )
    demo.add_argument("--data", metavar="DIR", help="keep the demo's directories here (default: a temporary folder)")
    akd_audit = sub.add_parser(
        "akd-audit",
        help="follow a published chain of akd (WhatsApp) audit blobs and vouch for it in a signed log",
        description="Lists the audit blobs at --source, checks that they form one unbroken chain of epochs, "
        "verifies each step from where the last run stopped, and appends every verified step to a signed "
        "tlog-tiles log in --state (its checkpoint: STATE/log/checkpoint; its verifier key: STATE/key.pub). "
        "Run it again, e.g. from cron, to follow the chain. On the first epoch that fails it stops, naming the "
        "epoch and why, with status 1; every epoch before it is vouched for.",
    )
    akd_audit.add_argument(
        "--source", required=True, metavar="URL-or-DIR",
        help="an S3-style bucket (ListObjectsV2), e.g. WhatsApp's current log https://d4ttn6vhp3mg0.cloudfront.net "
        "(its legacy one, no longer published to: https://d1tfr3x7n136ak.cloudfront.net), or a folder holding "
        "each blob as the file EPOCH/PREVIOUS_ROOT_HEX/CURRENT_ROOT_HEX",
    )
    akd_audit.add_argument(
        "--state", required=True, metavar="DIR",
        help="where the log, its key and the audit's configuration live (made on the first run; it audits one "
        "source only)",
    )
    akd_audit.add_argument(
        "--start", type=_number(int, 1, 2**64 - 1), metavar="EPOCH",
        help="a new state's first epoch (default: the lowest listed); unless it is 1, its previous root is "
        "trusted, not audited",
    )
    akd_audit.add_argument("--max-epochs", type=_number(int, 1), metavar="N",
                           help="vouch for at most N epochs in this run")
    akd_audit.add_argument("--timeout", type=_SECONDS, default=30.0, metavar="SECONDS",
                           help="how long a request to the bucket may wait on it before it fails; one that "
                           "fails so is tried 3 times more (default: %(default)s)")
    akd_audit.add_argument("--full-listing", action="store_true",
                           help="list the whole source: a run after the first asks only about the epochs after "
                           "its last one (and that one, and a few past a missing one); this also checks every "
                           "listed epoch already vouched for against the log (do it now and then)")
    akd_audit.add_argument("--quiet", action="store_true",
                           help="print only the summary's first line (and why it stopped, if it did)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a refused command line (2)
        return e.code if isinstance(e.code, int) else 2
    if args.command == "bench":
        from veritree import bench as bench_mod

        return bench_mod.run(quick=args.quick, json_path=args.json, billion_run=args.billion, plot_dir=args.plot)
    if args.command == "keygen":
        return _keygen(args.name, args.out, args.cosigner)
    if args.command == "akd-audit":
        return _akd_audit(args.source, args.state, args.start, args.max_epochs, args.timeout, args.full_listing,
                          args.quiet)
    if args.command == "demo":
        try:
            from veritree.ckv import demo as demo_mod
        except ModuleNotFoundError as e:
            return _without_server_extra("demo", e)
        return demo_mod.run(args.data)
    if args.command in ("init", "serve"):
        refusal = _refuse_data(args)
        if refusal:
            print(f"veritree {args.command}: {refusal}", file=sys.stderr)
            return 2
        if args.db:
            # The workers find the URL (it may hold a password) in their environment, not their command line.
            os.environ[_DB_VARIABLE] = args.db
        if args.command == "init":
            return _init(args.data, args.reasonable_monitoring_window)
        return _serve(args.data, args.host, args.port, args.publish_interval, args.heartbeat,
                      args.reasonable_monitoring_window, args.body_timeout, args.workers,
                      read_only=args.read_only, max_replica_lag=args.max_replica_lag,
                      create=args.create, registration_secret=args.registration_secret)
    if args.command == "serve-worker":
        _exit_with_parent(args.parent)
        return _serve_worker(args.data, args.host, args.port, args.publisher_socket,
                             args.reasonable_monitoring_window, args.body_timeout, args.registration_secret)
    return 2


def _data_state(data: str) -> str:
    """What `data` is: "ours" (it holds a directory's keys), "new" (missing or empty) or "other"."""
    try:
        names = set(os.listdir(data))
    except FileNotFoundError:
        return "new"
    except OSError:
        return "other"  # a file, or a folder we may not read
    if {"signing.key", "vrf.key"} <= names:
        return "ours"
    return "new" if not names else "other"


def _refuse_data(args: argparse.Namespace) -> str | None:
    """Why `init` or `serve` must not go on (before anything is made), or None."""
    state, data = _data_state(args.data), args.data
    if state == "other":
        return (f"{data} holds something other than a key directory (no signing.key and vrf.key); "
                "name a new or empty folder, or the one `veritree init` made")
    if args.command == "init":
        if state == "ours" and not args.db and os.path.exists(os.path.join(data, "log")):
            return f"{data} holds a key directory already; serve it with `veritree serve --data {data}`"
        return None
    if state == "new" and not args.create:
        return f"no key directory in {data}: make one with `veritree init --data {data}` (or serve --create)"
    if args.read_only and not args.db:
        return "--read-only needs --db"
    if args.read_only and state != "ours":
        return f"--read-only serves a log another server made: {data} must hold its keys"
    if args.registration_secret:
        try:
            read_registration_secret(args.registration_secret)
        except (OSError, ValueError) as e:
            return f"--registration-secret: {e}"
    return None


def _pinning(directory: KtDirectory) -> str:
    """How a client pins this directory."""
    from veritree.ckv.client import config_fingerprint

    return (f"configuration fingerprint {config_fingerprint(directory.config)}\n"
            "  clients pin it: CkvClient.connect(transport, fingerprint=\"<that>\"), or ship the bytes of "
            "GET /v1/config with the app and pass config=")


def _init(data: str, window: int) -> int:
    """Makes the data folder, its keys and an empty log; prints the fingerprint."""
    from veritree import StorageError

    try:
        _private_dir(data)
        signing_key = _secret_key(os.path.join(data, "signing.key"))
        vrf_key = _secret_key(os.path.join(data, "vrf.key"))
        directory = _open_publisher(_log_target(data), signing_key, vrf_key, window, create=True)
    except (OSError, ValueError, StorageError) as e:
        print(f"veritree init: {e}", file=sys.stderr)
        return 1
    with directory:
        print(f"veritree init: a key directory in {data}\n{_pinning(directory)}")
    return 0


_DB_VARIABLE = "VERITREE_SERVE_DB"


def _log_target(data: str) -> str:
    """Where the log lives: the database `serve --db` named, or the folder DATA/log."""
    return os.environ.get(_DB_VARIABLE) or os.path.join(data, "log")


def _open_publisher(target: str, signing_key: bytes, vrf_key: bytes, window: int, create: bool) -> KtDirectory:
    """Opens (or, if `create`, makes) the log as its publisher; in a database another server may hold the
    lease: waits for it (the holder's death frees it within seconds)."""
    from veritree import KtDirectory, StorageLockedError

    waiting = False
    while True:
        try:
            return KtDirectory.open(target, signing_key, vrf_key, create=create, reasonable_monitoring_window=window)
        except StorageLockedError:
            if os.environ.get(_DB_VARIABLE) is None:
                raise  # a folder's second publisher is an error, as ever
            if not waiting:
                print("veritree serve: another server publishes this log; waiting to take over", file=sys.stderr)
                waiting = True
            time.sleep(0.5)


def _serve(data: str, host: str, port: int, publish_interval: float, heartbeat: float, window: int,
           body_timeout: float, workers: int, *, read_only: bool = False, max_replica_lag: float = 10.0,
           create: bool = False, registration_secret: str | None = None) -> int:
    try:
        import uvicorn

        from veritree.ckv.server import create_app
    except ModuleNotFoundError as e:
        return _without_server_extra("serve", e)
    from veritree import KtDirectory, StorageError
    from veritree.ckv.accounts import update_validator

    authorize = token_authorizer(read_registration_secret(registration_secret)) if registration_secret else None
    try:
        _private_dir(data)
        signing_key = _secret_key(os.path.join(data, "signing.key"))
        vrf_key = _secret_key(os.path.join(data, "vrf.key"))
        if read_only:
            directory = KtDirectory.open(_log_target(data), signing_key, vrf_key, reader=True,
                                         reasonable_monitoring_window=window)
        else:
            directory = _open_publisher(_log_target(data), signing_key, vrf_key, window, create)
    except (OSError, ValueError, StorageError) as e:  # e.g. another window than the log was made with
        hint = "" if create else f" (a log not made yet: `veritree init --data {data}`)"
        print(f"veritree serve: {e}{hint if isinstance(e, StorageError) else ''}", file=sys.stderr)
        return 1
    with directory:
        print(f"veritree serve: {_pinning(directory)}", flush=True)
        try:
            # With workers, they check the tokens: the publisher listens only on its socket in DATA.
            app = create_app(directory, publish_interval=publish_interval, heartbeat=heartbeat,
                             validate_update=update_validator(directory), body_timeout=body_timeout,
                             max_replica_lag=max_replica_lag, authorize=None if workers else authorize)
        except ValueError as e:
            print(f"veritree serve: {e}", file=sys.stderr)
            return 2
        # uvicorn's defaults fit: idle keep-alive connections close after 5 s
        # (timeout_keep_alive), and no limit_concurrency, which would let a few
        # hundred stalled clients take every slot and turn the rest away with 503.
        if workers > 0:
            return _serve_with_workers(app, data, host, port, window, body_timeout, workers, registration_secret)
        uvicorn.run(app, host=host, port=port)
    return 0


def _serve_with_workers(app: object, data: str, host: str, port: int, window: int, body_timeout: float,
                        workers: int, registration_secret: str | None) -> int:
    """Runs `app` (the publisher's) on a Unix socket in `data`, and `workers` reader processes that
    each listen on `host:port` (SO_REUSEPORT: the kernel spreads connections over them) and pass writes
    to it; stops them when it stops."""
    import subprocess

    import uvicorn

    uds = os.path.join(data, "publisher.sock")
    if os.path.exists(uds):
        os.unlink(uds)  # left by a publisher that was killed
    # Bound, never listening: it holds the port for the workers' group and takes no connections.
    holder = reuse_port_socket(host, port)
    command = [sys.executable, "-m", "veritree.cli", "serve-worker", "--data", data, "--host", host,
               "--port", str(port), "--publisher-socket", uds, "--reasonable-monitoring-window", str(window),
               "--body-timeout", str(body_timeout), "--parent", str(os.getpid())]
    if registration_secret:
        command += ["--registration-secret", registration_secret]
    procs = [subprocess.Popen(command) for _ in range(workers)]
    try:
        uvicorn.run(app, uds=uds)  # type: ignore[arg-type]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        holder.close()
    return 0


def _serve_worker(data: str, host: str, port: int, publisher_socket: str, window: int, body_timeout: float,
                  registration_secret: str | None) -> int:
    """One reader process of `serve --workers`: answers reads from the newest publication in
    `data`, passes writes to the publisher, listens on `host:port` beside the other workers."""
    import uvicorn

    from veritree import KtDirectory
    from veritree.ckv.accounts import update_validator
    from veritree.ckv.server import create_app

    with open(os.path.join(data, "signing.key"), "rb") as f:
        signing_key = f.read()
    with open(os.path.join(data, "vrf.key"), "rb") as f:
        vrf_key = f.read()
    with KtDirectory.open(_log_target(data), signing_key, vrf_key, reader=True,
                          reasonable_monitoring_window=window) as directory:
        secret = read_registration_secret(registration_secret) if registration_secret else None
        app = create_app(directory, validate_update=update_validator(directory), body_timeout=body_timeout,
                         publisher_socket=publisher_socket, authorize=token_authorizer(secret) if secret else None)
        listener = reuse_port_socket(host, port)
        listener.listen(2048)
        # Given as a socket, not a descriptor: uvicorn takes a descriptor for a Unix socket, and a TCP
        # connection without TCP_NODELAY waits ~40 ms on delayed ACKs (measured: 725 responses/s).
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
    return 0


def _exit_with_parent(parent: int) -> None:
    """Ends this process (a worker) when `parent`, the process that started it, is gone (also before
    this is called): a publisher killed without a chance to stop its workers must not leave them
    holding its port."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _without_server_extra(command: str, error: ModuleNotFoundError) -> int:
    """Says what to install when `command` needs the server extra and it is missing (1); re-raises any
    other missing module."""
    if not needs_server_extra(error):
        raise error
    print(f"veritree {command} needs the server extra ({error.name} is not installed): {SERVER_EXTRA}",
          file=sys.stderr)
    return 1


def _private_dir(path: str) -> None:
    """Makes `path` an owner-only folder (an empty one is tightened: nothing was exposed yet), or refuses an
    existing folder with files that other users can reach: it holds the keys and every identifier."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if os.listdir(path):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                raise ValueError(f"{path} holds the directory's keys and journal but is open to other users "
                                 f"(mode {mode:04o}); make it owner-only with `chmod 700 {path}` "
                                 "(and check who may have read it)") from None
            return
    os.chmod(path, 0o700)  # whatever the umask took away


def _secret_key(path: str) -> bytes:
    """The 32-byte key in `path`, made on first use: a lost or changed key would orphan the log."""
    key = os.urandom(32)
    try:
        _write_new(path, key, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            key = f.read(33)
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key") from None
        return key
    # The new name must survive a crash before anything is signed with the key.
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _akd_audit(source_spec: str, state: str, start: int | None, max_epochs: int | None, timeout: float,
               full_listing: bool, quiet: bool) -> int:
    """Vouches for the source's audit blobs (veritree.akd.auditor): 0 when the log reaches the newest listed
    epoch (or --max-epochs), 1 when a step fails or the state refuses, 2 when --source or --state names
    nothing usable (checked before anything is made)."""
    from veritree.akd.auditor import AuditError, AuditResult, audit, state_refusal
    from veritree.akd.sources import SourceError, open_source

    def say(line: str) -> None:
        print(f"veritree akd-audit: {line}", file=sys.stderr, flush=True)

    try:
        source = open_source(source_spec, timeout=timeout)
    except SourceError as e:
        say(f"--source: {e}")
        return 2
    refusal = state_refusal(state)
    if refusal is not None:
        say(f"--state: {refusal}")
        return 2
    try:
        result = audit(source, state, start=start, max_epochs=max_epochs, full_listing=full_listing,
                       progress=None if quiet else say)
    except AuditError as e:
        say(str(e))
        return 1

    def epochs(first: int, last: int) -> str:
        return f"epoch {first}" if first == last else f"epochs {first}..{last}"

    def summary(r: AuditResult) -> list[str]:
        if r.last_epoch is None or r.first_epoch is None:
            return [f"up to date: {r.source} lists no audit blobs to vouch for yet"]
        held = f"the log vouches for {epochs(r.first_epoch, r.last_epoch)}"
        lines = ([f"vouched for {epochs(r.new.start, r.new.stop - 1)} of {r.source}; {held}"] if r.new
                 else [f"up to date: {held} of {r.source}"])
        if not quiet:
            assert r.latest_root is not None
            lines.append(f"  latest root (epoch {r.last_epoch}): {r.latest_root.hex()}")
            if r.trusted_previous_root is not None:
                lines.append(f"  epoch {r.first_epoch}'s previous root {r.trusted_previous_root.hex()} is trusted, "
                             f"not audited: the audit starts at epoch {r.first_epoch}")
            if r.remaining and r.stop is None:
                lines.append(f"  {r.remaining} more listed epoch{'s' if r.remaining > 1 else ''}: run again")
            lines.append(f"  checkpoint ({os.path.join(state, 'log', 'checkpoint')}), signed by "
                         f"{r.verifier_key} ({os.path.join(state, 'key.pub')}):")
        return lines

    if result.stop is None or result.new:
        lines = summary(result)
        print("veritree akd-audit: " + "\n".join(lines))
        if not quiet and result.last_epoch is not None:
            print(result.checkpoint, end="")
    if result.stop is not None:
        stop = result.stop
        say(f"stopped at {stop}" if stop.epoch is not None else f"stopped: {stop}")
        return 1
    return 0


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
        _write_new(key_path, signer_key.encode(), 0o600)
        try:
            _write_new(pub_path, verifier_key.encode(), 0o644)
        except BaseException:
            os.unlink(key_path)
            raise
    except OSError as e:
        print(f"veritree keygen: {e}", file=sys.stderr)
        return 1
    print(verifier_key)
    return 0


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Creates `path` with `mode` from the start (O_EXCL: never an existing file or link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(path)  # never leave a short key behind
        raise


if __name__ == "__main__":
    sys.exit(main())
