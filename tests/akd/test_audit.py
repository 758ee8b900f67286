"""`veritree akd-audit`: following a chain of akd audit blobs (made by the real akd crate, in
tests/vectors/akd/akd-0.13.json) from a folder and from an S3-style bucket served on 127.0.0.1, and
vouching for it in a signed tlog. Every stop says which epoch and why, with status 1, and leaves the log
at the last good step; a rerun resumes where the log stops."""

from __future__ import annotations

import bisect
import fcntl
import json
import re
import stat
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import veritree
from veritree import akd, cli
from veritree.akd import auditor, sources

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "akd" / "akd-0.13.json"
CHAIN: list[tuple[str, bytes]] = [(b["name"], bytes.fromhex(b["blob"]))
                                  for b in json.loads(VECTORS.read_text())["blobs"]]
E = len(CHAIN)  # epochs 1..E
STEPS = [akd.parse_audit_blob_name(name) for name, _ in CHAIN]


def name_of(epoch: int) -> str:
    return CHAIN[epoch - 1][0]


def blob_of(epoch: int) -> bytes:
    return CHAIN[epoch - 1][1]


def renamed(epoch: int, previous: bytes | None = None, current: bytes | None = None) -> str:
    step = STEPS[epoch - 1]
    return f"{epoch}/{(previous or step.previous_root).hex()}/{(current or step.current_root).hex()}"


def test_the_vectors_are_one_chain_from_the_empty_root() -> None:
    assert E >= 6 and [s.epoch for s in STEPS] == list(range(1, E + 1))
    assert STEPS[0].previous_root == akd.EMPTY_ROOT
    assert all(a.current_root == b.previous_root for a, b in zip(STEPS, STEPS[1:], strict=False))


# --- an S3-style bucket on 127.0.0.1 -----------------------------------------------------------------


@dataclass
class Bucket:
    """What the local server serves: `objects` by key, listed `page_size` keys a page in S3's order, paged
    with continuation tokens (S3) or only start-after (`tokens=False`: CloudFront in front of S3)."""

    objects: dict[str, bytes] = field(default_factory=dict)
    page_size: int = 2
    tokens: bool = True
    prefix: str = ""  # a path-style bucket ("/audits") or one at the host's root ("")
    status: dict[str, int] = field(default_factory=dict)  # a key answered with this HTTP status
    listing_override: bytes | None = None
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def serve(self, epochs: range | list[int]) -> None:
        self.objects = {name_of(e): blob_of(e) for e in epochs}

    def fetched(self) -> list[int]:
        """The epochs whose blobs were fetched (GET of a key), in order, since the last call."""
        got = [int(r.split("/")[0]) for r in self.requests if not r.startswith("?")]
        self.requests.clear()
        return got

    def listing(self, query: dict[str, list[str]]) -> bytes:
        if self.listing_override is not None:
            return self.listing_override
        assert query.get("list-type") == ["2"], query
        keys = sorted(k for k in self.objects if k.startswith(query.get("prefix", [""])[0]))
        if "continuation-token" in query:
            start = int(query["continuation-token"][0].removeprefix("token-"))
        elif "start-after" in query:
            start = bisect.bisect_right(keys, query["start-after"][0])
        else:
            start = 0
        page = keys[start:start + self.page_size]
        truncated = start + self.page_size < len(keys)
        contents = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{len(self.objects[k])}</Size></Contents>"
                           for k in page)
        token = (f"<NextContinuationToken>token-{start + self.page_size}</NextContinuationToken>"
                 if truncated and self.tokens else "")
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
                f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>kt</Name><KeyCount>{len(page)}</KeyCount>'
                f"<MaxKeys>{self.page_size}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
                f"{contents}{token}</ListBucketResult>").encode()


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    state = Bucket()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urllib.parse.urlsplit(self.path)
            path = parts.path.removeprefix(state.prefix)
            if path in ("", "/") and parts.query:
                state.requests.append("?" + parts.query)
                self.answer(200, state.listing(urllib.parse.parse_qs(parts.query)))
                return
            key = urllib.parse.unquote(path.removeprefix("/"))
            state.requests.append(key)
            if key in state.status:
                self.answer(state.status[key], b"<Error><Code>Nope</Code></Error>")
            elif key in state.objects:
                self.answer(200, state.objects[key])
            else:
                self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>")

        def answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def url(bucket: Bucket) -> str:
    return bucket.url + bucket.prefix


def folder_source(root: Path, epochs: range | list[int]) -> Path:
    for e in epochs:
        path = root / name_of(e)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob_of(e))
    return root


# --- helpers --------------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["akd-audit", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "PRIVATE+KEY" not in out + err
    return code, out, err


def logged(state: Path) -> list[akd.AuditStep]:
    """The steps the state's log holds (read as any reader would, without its key)."""
    if not (state / "log").exists():
        return []
    with veritree.Log.open(state / "log") as log:
        steps = [auditor.decode_step(log.entry(i)) for i in range(log.size)]
    return steps


def epochs_logged(state: Path) -> list[int]:
    return [s.epoch for s in logged(state)]


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The epochs whose blobs the auditor verifies, in order."""
    seen: list[int] = []
    real = akd.verify_audit_blob

    def spy(name: str, blob: akd.BytesLike) -> akd.AuditStep:
        seen.append(akd.parse_audit_blob_name(name).epoch)
        return real(name, blob)

    monkeypatch.setattr(akd, "verify_audit_blob", spy)
    return seen


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- the whole chain --------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens, prefix", [(True, ""), (False, ""), (True, "/audits")],
                         ids=["continuation-token", "start-after", "path-style"])
def test_the_whole_chain_is_vouched_for_and_the_checkpoint_verifies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket, verified: list[int],
        tokens: bool, prefix: str) -> None:
    bucket.tokens, bucket.prefix = tokens, prefix
    bucket.serve(range(1, E + 1))
    state = tmp_path / "state"
    code, out, err = run(capsys, "--source", url(bucket), "--state", str(state))
    assert code == 0, err
    assert out.startswith(f"veritree akd-audit: vouched for epochs 1..{E} of {url(bucket)}")
    assert f"latest root (epoch {E}): {STEPS[-1].current_root.hex()}" in out
    assert "trusted" not in out
    listings = [r for r in bucket.requests if r.startswith("?")]
    assert len(listings) == (E + 1) // 2  # pages of 2 keys
    assert any(("continuation-token" if tokens else "start-after") in r for r in listings)
    assert sorted(bucket.fetched()) == list(range(1, E + 1))
    assert verified == list(range(1, E + 1))

    # The log: one 72-byte entry a step, and a checkpoint signed by the key in key.pub.
    assert logged(state) == STEPS
    verifier = (state / "key.pub").read_text()
    assert verifier in out
    checkpoint = (state / "log" / "checkpoint").read_text()
    assert checkpoint in out
    origin, size, root = veritree.verify_checkpoint(checkpoint, [verifier])
    assert origin == auditor.origin_for(url(bucket)) and origin.startswith("veritree-akd-audit/127.0.0.1/")
    assert size == E
    with veritree.Log.open(state / "log") as log:
        entries = [log.entry(i) for i in range(log.size)]
        assert log.root() == root
    assert all(len(e) == auditor.ENTRY_SIZE == 72 for e in entries)
    assert entries[0] == (1).to_bytes(8, "big") + STEPS[0].previous_root + STEPS[0].current_root
    assert veritree.merkle_root([veritree.leaf_hash(e) for e in entries]) == root
    with pytest.raises(veritree.VerificationError):
        veritree.verify_checkpoint(checkpoint, [veritree.generate_note_key(origin)[1]])
    config = json.loads((state / "config.json").read_text())
    assert config["source"] == url(bucket) and config["first_epoch"] == 1
    assert config["trusted_previous_root"] is None and config["origin"] == origin


def test_a_folder_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = folder_source(tmp_path / "mirror", range(1, E + 1))
    state = tmp_path / "state"
    code, out, err = run(capsys, "--source", str(source), "--state", str(state))
    assert code == 0, err
    assert f"vouched for epochs 1..{E}" in out
    assert logged(state) == STEPS
    assert auditor.origin_for(str(source)).startswith("veritree-akd-audit/folder/")


def test_the_key_is_owner_only_and_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    code, out, err = run(capsys, "--source", str(folder_source(tmp_path / "m", range(1, 3))), "--state", str(state))
    assert code == 0, err
    assert stat.S_IMODE((state / "key").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    secret = (state / "key").read_text()
    assert secret.startswith("PRIVATE+KEY+veritree-akd-audit/folder/") and secret not in out + err
    # key.pub is the verifier of that key: a note it signs opens with key.pub.
    note = veritree.sign_note("hello\n", [secret])
    assert veritree.open_note(note, [(state / "key.pub").read_text()])[1] == [secret.split("+")[2]]


# --- resuming --------------------------------------------------------------------------------------


def test_a_rerun_verifies_only_the_new_epochs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             bucket: Bucket, verified: list[int]) -> None:
    state, k = tmp_path / "state", 4
    bucket.serve(range(1, k + 1))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0, err
    assert f"vouched for epochs 1..{k}" in out and verified == list(range(1, k + 1))
    assert len(logged(state)) == k
    bucket.fetched()
    verified.clear()

    bucket.serve(range(1, E + 1))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0, err
    assert out.startswith(f"veritree akd-audit: vouched for epochs {k + 1}..{E} of {bucket.url}; "
                          f"the log vouches for epochs 1..{E}")
    assert verified == list(range(k + 1, E + 1))
    assert sorted(bucket.fetched()) == list(range(k + 1, E + 1))  # old blobs are not fetched again
    assert logged(state) == STEPS


def test_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket,
                    verified: list[int]) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    checkpoint = (state / "log" / "checkpoint").read_text()
    verified.clear()
    bucket.fetched()
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0, err
    assert out.startswith(f"veritree akd-audit: up to date: the log vouches for epochs 1..{E} of {bucket.url}\n")
    assert verified == [] and bucket.fetched() == []
    assert (state / "log" / "checkpoint").read_text() == checkpoint  # nothing signed anew
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--quiet")
    assert (code, err) == (0, "") and out.count("\n") == 1 and "up to date" in out


def test_an_empty_source_is_up_to_date_with_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "--source", str(tmp_path / "empty"), "--state", str(tmp_path / "state"))
    assert code == 0 and "lists no audit blobs to vouch for yet" in out
    assert logged(tmp_path / "state") == [] and not (tmp_path / "state" / "config.json").exists()


def test_max_epochs_bounds_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket,
                                   verified: list[int]) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--max-epochs", "3")
    assert code == 0, err
    assert "vouched for epochs 1..3" in out and f"{E - 3} more listed epochs: run again" in out
    assert verified == [1, 2, 3] and epochs_logged(state) == [1, 2, 3]
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--max-epochs", "2")
    assert code == 0 and "vouched for epochs 4..5" in out and epochs_logged(state) == [1, 2, 3, 4, 5]
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0 and f"vouched for epochs 6..{E}" in out and "more listed" not in out
    assert logged(state) == STEPS and verified == list(range(1, E + 1))


def test_a_start_after_epoch_1_trusts_its_previous_root_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket, verified: list[int]) -> None:
    state, start = tmp_path / "state", 4
    bucket.serve(range(1, E + 1))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--start", str(start),
                         "--max-epochs", "2")
    assert code == 0, err
    trusted = STEPS[start - 1].previous_root
    assert (f"epoch {start}'s previous root {trusted.hex()} is trusted, not audited: the audit starts at "
            f"epoch {start}") in out
    assert verified == [4, 5] and epochs_logged(state) == [4, 5]
    config = json.loads((state / "config.json").read_text())
    assert config["first_epoch"] == start and config["trusted_previous_root"] == trusted.hex()
    # Later runs resume and still say what was trusted; --start names the state's own first epoch or nothing.
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--start", str(start))
    assert code == 0 and f"vouched for epochs 6..{E}" in out and "is trusted, not audited" in out
    assert logged(state) == STEPS[start - 1:]
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state), "--start", "1")
    assert code == 1 and out == ""
    assert one_line(err) == (f"veritree akd-audit: {state} audits from epoch {start}; --start only chooses "
                             "where a new state begins")


def test_a_start_with_no_blob_yet_is_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 bucket: Bucket) -> None:
    bucket.serve(range(1, 4))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(tmp_path / "s"), "--start", "4")
    assert code == 0 and "up to date" in out and logged(tmp_path / "s") == []


def test_a_crash_between_verifying_and_appending_only_repeats_work(
        tmp_path: Path, bucket: Bucket, verified: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    source = sources.open_source(bucket.url)
    real = auditor._extend
    calls: list[int] = []

    def crash_once(log: veritree.Log, entries: list[bytes]) -> None:
        calls.append(len(entries))
        if len(calls) == 2:
            raise RuntimeError("the power went out")
        real(log, entries)

    monkeypatch.setattr(auditor, "_extend", crash_once)
    with pytest.raises(RuntimeError, match="power"):
        auditor.audit(source, state, batch=3)
    assert verified == [1, 2, 3, 4, 5, 6] and epochs_logged(state) == [1, 2, 3]  # 4..6 verified, not vouched
    verified.clear()
    result = auditor.audit(source, state, batch=3)
    assert result.stop is None and result.new == range(4, E + 1) and result.size == E
    assert verified == list(range(4, E + 1)) and logged(state) == STEPS


def test_a_failed_write_is_one_line_and_vouches_for_nothing_unwritten(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))

    def full_disk(log: veritree.Log, entries: list[bytes]) -> None:
        raise veritree.StorageIOError("No space left on device")

    monkeypatch.setattr(auditor, "_extend", full_disk)
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 1 and out == ""
    assert "cannot append to" in one_line(err) and "No space left" in err and "verified again next run" in err
    assert logged(state) == []
    monkeypatch.undo()
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0 and logged(state) == STEPS


# --- stops: status 1, one line naming the epoch, the log at the last good step --------------------


def stops(capsys: pytest.CaptureFixture[str], source: str, state: Path, *extra: str) -> str:
    code, out, err = run(capsys, "--source", source, "--state", str(state), *extra)
    assert code == 1, (out, err)
    return one_line(err)


def test_a_gap_stops_at_the_missing_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          bucket: Bucket, verified: list[int]) -> None:
    state = tmp_path / "state"
    bucket.serve([e for e in range(1, E + 1) if e != 5])
    line = stops(capsys, bucket.url, state)
    assert line == (f"veritree akd-audit: stopped at epoch 5: missing: the source lists no blob for it, but "
                    f"lists epochs up to {E}")
    assert epochs_logged(state) == [1, 2, 3, 4] and verified == [1, 2, 3, 4]
    # The vouched steps are reported too, on stdout.
    bucket.serve(range(1, E + 1))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    assert logged(state) == STEPS


def test_a_gap_before_the_lowest_listed_epoch_with_start_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           bucket: Bucket) -> None:
    bucket.serve(range(3, E + 1))
    line = stops(capsys, bucket.url, tmp_path / "state", "--start", "1")
    assert "stopped at epoch 1: missing" in line and logged(tmp_path / "state") == []


def test_two_blobs_for_one_epoch_stop_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    other = renamed(6, current=bytes(32))
    bucket.objects[other] = blob_of(6)
    line = stops(capsys, bucket.url, state)
    assert line.startswith("veritree akd-audit: stopped at epoch 6: the source lists two blobs for it: ")
    assert name_of(6) in line and other in line
    assert epochs_logged(state) == [1, 2, 3, 4, 5]


def test_a_broken_chain_stops_it(tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket,
                                 verified: list[int]) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    # Epoch 6 as if it followed another epoch 5: its name's previous root is not epoch 5's current root.
    del bucket.objects[name_of(6)]
    bucket.objects[renamed(6, previous=STEPS[2].current_root)] = blob_of(6)
    line = stops(capsys, bucket.url, state)
    assert line == (f"veritree akd-audit: stopped at epoch 6: broken chain: its previous root "
                    f"{STEPS[2].current_root.hex()} is not epoch 5's current root {STEPS[4].current_root.hex()}")
    assert epochs_logged(state) == [1, 2, 3, 4, 5] and 6 not in verified


def test_a_blob_from_another_chain_stops_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            bucket: Bucket) -> None:
    """Epoch 7's blob under a name that chains (epoch 6's root to a made-up root) does not verify."""
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    del bucket.objects[name_of(7)]
    forged = renamed(7, current=bytes(range(32)))
    bucket.objects[forged] = blob_of(7)
    line = stops(capsys, bucket.url, state)
    assert line.startswith(f"veritree akd-audit: stopped at epoch 7: blob {forged} does not verify: ")
    assert epochs_logged(state) == [1, 2, 3, 4, 5, 6]


def test_a_tampered_blob_stops_it(tmp_path: Path, capsys: pytest.CaptureFixture[str], bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    blob = bytearray(blob_of(7))
    blob[len(blob) // 2] ^= 0x10
    bucket.objects[name_of(7)] = bytes(blob)
    line = stops(capsys, bucket.url, state)
    assert line.startswith(f"veritree akd-audit: stopped at epoch 7: blob {name_of(7)} does not verify: ")
    assert epochs_logged(state) == [1, 2, 3, 4, 5, 6]


def test_epoch_1_must_start_at_the_empty_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              bucket: Bucket) -> None:
    bucket.serve(range(2, E + 1))
    bucket.objects[renamed(1, previous=bytes(32))] = blob_of(1)
    line = stops(capsys, bucket.url, tmp_path / "state")
    assert line == (f"veritree akd-audit: stopped at epoch 1: its previous root {bytes(32).hex()} is not akd's "
                    f"empty root {akd.EMPTY_ROOT.hex()}")
    assert logged(tmp_path / "state") == []


@pytest.mark.parametrize("bad", ["README.md", "7/not-hex/x", f"07/{'00' * 32}/{'11' * 32}",
                                 f"0/{'00' * 32}/{'11' * 32}", f"5/{'AB' * 32}/{'11' * 32}"])
def test_a_malformed_name_stops_it_before_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   bucket: Bucket, verified: list[int], bad: str) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 4))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    verified.clear()
    bucket.serve(range(1, E + 1))
    bucket.objects[bad] = b"x"
    line = stops(capsys, bucket.url, state, "--full-listing")  # a run after the first asks about epochs only
    assert line == (f"veritree akd-audit: stopped: the source lists {bad!r}, which is not an audit blob name "
                    "(EPOCH/PREVIOUS_ROOT_HEX/CURRENT_ROOT_HEX)")
    assert epochs_logged(state) == [1, 2, 3] and verified == []


def test_a_stray_file_in_a_folder_source_is_a_malformed_name(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = folder_source(tmp_path / "m", range(1, E + 1))
    (source / "1" / "notes.txt").write_text("hi")
    line = stops(capsys, str(source), tmp_path / "state")
    assert "'1/notes.txt', which is not an audit blob name" in line


def test_another_history_for_a_vouched_epoch_stops_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      bucket: Bucket, verified: list[int]) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 5))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    verified.clear()
    bucket.serve(range(1, E + 1))
    del bucket.objects[name_of(3)]
    bucket.objects[renamed(3, current=bytes(32))] = blob_of(3)
    line = stops(capsys, bucket.url, state, "--full-listing")
    assert line.startswith(f"veritree akd-audit: stopped at epoch 3: the source lists {renamed(3, current=bytes(32))}, "
                           f"but this auditor vouched for {STEPS[2].previous_root.hex()} -> "
                           f"{STEPS[2].current_root.hex()} as this epoch")
    assert epochs_logged(state) == [1, 2, 3, 4] and verified == []


def test_a_blob_that_cannot_be_read_stops_at_its_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, E + 1))
    bucket.status[name_of(4)] = 403
    line = stops(capsys, bucket.url, state)
    assert line == (f"veritree akd-audit: stopped at epoch 4: cannot read blob {name_of(4)}: "
                    f"{bucket.url}/{name_of(4)} answered HTTP 403 Forbidden")
    assert epochs_logged(state) == [1, 2, 3]


def test_an_unreachable_or_broken_bucket_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("veritree.akd.sources.time.sleep", pauses.append)
    bucket.serve(range(1, E + 1))
    bucket.status[name_of(2)] = 503  # retried, then a stop
    line = stops(capsys, bucket.url, tmp_path / "a")
    assert line.endswith("answered HTTP 503 Service Unavailable") and "stopped at epoch 2" in line
    assert pauses == [1.0, 2.0, 4.0] and epochs_logged(tmp_path / "a") == [1]

    bucket.listing_override = b"<html>not a bucket</html>"
    assert "the listing is a <html>, not a ListBucketResult" in stops(capsys, bucket.url, tmp_path / "b")
    bucket.listing_override = b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"
    assert "gives no key or token to continue from" in stops(capsys, bucket.url, tmp_path / "b")
    bucket.listing_override = b"\x00garbage"
    assert "the listing is not XML" in stops(capsys, bucket.url, tmp_path / "b")

    closed = bucket.url.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
    line = stops(capsys, closed, tmp_path / "c")
    assert line.startswith(f"veritree akd-audit: stopped: cannot read the listing: {closed}/?list-type=2: ")
    assert logged(tmp_path / "b") == [] and logged(tmp_path / "c") == []


def test_listings_and_blobs_are_bounded(bucket: Bucket) -> None:
    bucket.serve(range(1, E + 1))
    with pytest.raises(sources.SourceError, match="sends 6[0-9][0-9] bytes, more than 100$"):
        list(sources.BucketSource(bucket.url, max_listing_bytes=100).names())
    small = sources.BucketSource(bucket.url, max_blob_bytes=1000)
    with pytest.raises(sources.SourceError, match=f"sends {len(blob_of(1))} bytes, more than 1000"):
        small.read(name_of(1))
    assert small.read(name_of(8)) == blob_of(8)  # 805 bytes


def test_a_listing_that_declares_entities_is_refused_before_it_expands(bucket: Bucket) -> None:
    """A few hundred bytes of entity declarations expand to 10^9 (billion laughs): refused unparsed."""
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    bucket.listing_override = (f'<?xml version="1.0"?><!DOCTYPE r [{entities}]><ListBucketResult><Contents>'
                               "<Key>&e9;</Key></Contents></ListBucketResult>").encode()
    with pytest.raises(sources.SourceError, match="declares a document type"):
        list(sources.BucketSource(bucket.url).names())


@pytest.mark.parametrize(("listing", "reason"), [
    # Found by the akd_listing fuzz target: an unknown encoding raised LookupError past SourceError.
    (b'<?xml version="1.0" encoding="UTF-."?><ListBucketResult/>', "not XML"),
    (b'<?xml version="1.0" encoding="utf-16"?><ListBucketResult/>', "not XML"),
    # A <Key> with markup in it read as its first text only; two read as the first.
    (b"<ListBucketResult><Contents><Key>1/a<b/>/c</Key></Contents></ListBucketResult>", "one <Key> of plain text"),
    (b"<ListBucketResult><Contents><Key>1/a</Key><Key>2/b</Key></Contents></ListBucketResult>", "one <Key>"),
    (b"<ListBucketResult><Contents><Size>7</Size></Contents></ListBucketResult>", "one <Key>"),
])
def test_a_listing_page_that_is_not_one_is_a_source_error(bucket: Bucket, listing: bytes, reason: str) -> None:
    bucket.listing_override = listing
    with pytest.raises(sources.SourceError, match=reason):
        list(sources.BucketSource(bucket.url).names())


def test_a_listing_that_pages_in_a_circle_is_refused(bucket: Bucket) -> None:
    bucket.listing_override = (b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents>"
                               b"<NextContinuationToken>again</NextContinuationToken></ListBucketResult>")
    with pytest.raises(sources.SourceError, match="repeats a page"):
        list(sources.BucketSource(bucket.url).names())


# --- the state folder ---------------------------------------------------------------------------------


def test_a_state_made_for_another_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    bucket: Bucket) -> None:
    state = tmp_path / "state"
    one = folder_source(tmp_path / "one", range(1, 4))
    two = folder_source(tmp_path / "two", range(1, E + 1))
    assert run(capsys, "--source", str(one), "--state", str(state))[0] == 0
    bucket.serve(range(1, E + 1))
    for other in (str(two), bucket.url):
        line = stops(capsys, other, state)
        assert line == (f"veritree akd-audit: {state} is the state of an audit of {one}, not of {other}: name "
                        "another --state for this source")
    assert epochs_logged(state) == [1, 2, 3]


def test_a_state_whose_key_names_another_source_is_refused(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A first run that stopped before vouching for anything left a key but no config.json."""
    state = tmp_path / "state"
    (tmp_path / "empty").mkdir()
    assert run(capsys, "--source", str(tmp_path / "empty"), "--state", str(state))[0] == 0
    line = stops(capsys, str(folder_source(tmp_path / "two", range(1, 3))), state)
    assert "is the key of veritree-akd-audit/folder/" in line and "another source" in line
    assert logged(state) == []


def test_a_folder_holding_something_else_is_refused_before_anything_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"jpeg")
    code, out, err = run(capsys, "--source", str(folder_source(tmp_path / "m", range(1, 3))), "--state", str(photos))
    assert code == 2 and out == ""
    assert "holds something other than an akd-audit state" in one_line(err)
    assert [p.name for p in photos.iterdir()] == ["holiday.jpg"]


def test_a_second_auditor_on_the_same_state_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 4))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    bucket.serve(range(1, E + 1))
    # Another akd-audit holds the state's lock...
    with open(state / "lock", "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = stops(capsys, bucket.url, state)
    assert line == (f"veritree akd-audit: another akd-audit is running on {state} (it holds {state / 'lock'}); "
                    "one at a time")
    # ... or another process writes its log (the log's own writer lock).
    with veritree.Log.open(state / "log", origin=auditor.origin_for(bucket.url), signer=(state / "key").read_text()):
        line = stops(capsys, bucket.url, state)
    assert line == (f"veritree akd-audit: another process holds {state / 'log'} open for writing; one auditor "
                    "at a time")
    assert epochs_logged(state) == [1, 2, 3]
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0 and logged(state) == STEPS


def test_a_lost_log_is_not_restarted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    state, source = tmp_path / "state", folder_source(tmp_path / "m", range(1, E + 1))
    assert run(capsys, "--source", str(source), "--state", str(state), "--max-epochs", "2")[0] == 0
    shutil.rmtree(state / "log")
    line = stops(capsys, str(source), state)
    assert "log is missing, but config.json says steps were vouched for there" in line
    assert not (state / "log").exists()


# --- the command line and the entry format ----------------------------------------------------------


@pytest.mark.parametrize("args, why", [
    (["--state", "S"], "the following arguments are required: --source"),
    (["--source", "S"], "the following arguments are required: --state"),
    (["--source", "S", "--state", "S", "--max-epochs", "0"], "0 is out of range: it must be at least 1"),
    (["--source", "S", "--state", "S", "--start", "0"], "0 is out of range: it must be at least 1"),
    (["--source", "S", "--state", "S", "--start", "x"], "'x' is not an integer"),
    (["--source", "S", "--state", "S", "--timeout", "0"], "0 is out of range: it must be above 0"),
    (["--source", "http://", "--state", "S"], "--source: 'http://' is not an http(s) URL"),
    (["--source", "https://h/x?list-type=2", "--state", "S"], "name the bucket without a query"),
    (["--source", "no-such-folder", "--state", "S"], "--source: no-such-folder is not a folder"),
])
def test_a_bad_command_line_is_one_line_and_status_2_before_anything_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        args: list[str], why: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert why in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["akd-audit", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--source", "--state", "--start", "--max-epochs", "--timeout", "--quiet"):
        assert option in out
    assert cli.main(["--help"]) == 0
    assert re.search(r"akd-audit\s+follow a published chain", capsys.readouterr().out)


def test_an_entry_is_epoch_and_the_two_roots() -> None:
    step = akd.AuditStep(2**64 - 1, bytes(range(32)), bytes(range(32, 64)))
    entry = auditor.encode_step(step)
    assert entry == b"\xff" * 8 + bytes(range(64)) and len(entry) == auditor.ENTRY_SIZE
    assert auditor.decode_step(entry) == step
    with pytest.raises(ValueError):
        auditor.decode_step(entry + b"\x00")
    with pytest.raises(ValueError):
        auditor.encode_step(akd.AuditStep(1, b"", bytes(32)))


def test_the_module_docstring_states_the_entry_format() -> None:
    doc = auditor.__doc__ or ""
    assert "72 bytes" in doc and "big-endian" in doc


# --- a run after the first asks about its epochs only ---------------------------------------------------------


def listings(bucket: Bucket) -> list[dict[str, list[str]]]:
    """The listing requests since the last call, as parsed queries."""
    asked = [urllib.parse.parse_qs(r[1:]) for r in bucket.requests if r.startswith("?")]
    bucket.requests.clear()
    return asked


def test_a_rerun_asks_about_the_new_epochs_not_the_whole_bucket(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                bucket: Bucket, verified: list[int]) -> None:
    state, k = tmp_path / "state", 4
    bucket.serve(range(1, k + 1))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    assert all("prefix" not in q for q in listings(bucket))  # a first run lists the bucket
    bucket.serve(range(1, E + 1))
    verified.clear()
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0 and f"vouched for epochs {k + 1}..{E}" in out and logged(state) == STEPS
    asked = [int(q["prefix"][0].removesuffix("/")) for q in listings(bucket)]
    # The last vouched epoch, each new one, the first missing one and a few past it: no whole listing.
    assert asked == [k, *range(k + 1, E + 2), *range(E + 2, E + 2 + auditor.PROBE_PAST_GAP)]
    assert verified == list(range(k + 1, E + 1))
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0 and "up to date" in out


def test_a_rerun_stops_at_a_gap_it_sees_past_the_missing_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 4))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    bucket.serve([e for e in range(1, E + 1) if e != 5])
    line = stops(capsys, bucket.url, state)
    assert line.startswith("veritree akd-audit: stopped at epoch 5: missing: the source lists no blob for it")
    assert epochs_logged(state) == [1, 2, 3, 4]


def test_a_rerun_stops_on_a_second_blob_or_a_bad_name_under_an_epoch(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 4))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    bucket.serve(range(1, E + 1))
    bucket.objects[renamed(6, current=bytes(32))] = blob_of(6)
    line = stops(capsys, bucket.url, state)
    assert line.startswith("veritree akd-audit: stopped at epoch 6: the source lists two blobs for it: ")
    assert epochs_logged(state) == [1, 2, 3, 4, 5]
    bucket.serve(range(1, E + 1))
    bucket.objects["7/not-a-root"] = b"x"
    line = stops(capsys, bucket.url, state)
    assert line == ("veritree akd-audit: stopped: the source lists '7/not-a-root' under 7/, which is not an audit "
                    "blob name of epoch 7")
    assert epochs_logged(state) == [1, 2, 3, 4, 5]  # as with the whole listing: before anything new


def test_a_rerun_sees_its_last_epoch_rewritten(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               bucket: Bucket) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 5))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    bucket.serve(range(1, E + 1))
    bucket.objects[renamed(4, current=bytes(32))] = blob_of(4)
    line = stops(capsys, bucket.url, state)
    assert line.startswith(f"veritree akd-audit: stopped at epoch 4: the source lists {renamed(4, current=bytes(32))}")
    assert line.endswith("the publisher shows two histories") and epochs_logged(state) == [1, 2, 3, 4]


def test_many_new_epochs_are_listed_not_asked_about(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    bucket.serve(range(1, 3))
    assert run(capsys, "--source", bucket.url, "--state", str(state))[0] == 0
    monkeypatch.setattr(auditor, "ASK_AT_MOST", 3)
    bucket.serve(range(1, E + 1))
    listings(bucket)
    code, out, err = run(capsys, "--source", bucket.url, "--state", str(state))
    assert code == 0 and logged(state) == STEPS
    asked = listings(bucket)
    assert [q.get("prefix") for q in asked[:5]] == [["2/"], ["3/"], ["4/"], ["5/"], ["6/"]]
    assert any("prefix" not in q for q in asked[5:])  # then the whole listing
