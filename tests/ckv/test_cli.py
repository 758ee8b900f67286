"""The `veritree` command as a newcomer meets it: a version, every argument
checked before anything is made (one line, status 2), a data folder made
only when asked, and the fingerprint clients pin printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import uvicorn
import veritree
from veritree import cli
from veritree.ckv import config_fingerprint


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"veritree {veritree.__version__}\n", "")


@pytest.mark.parametrize("bad, why", [
    (["--port", "99999"], "99999 is out of range: it must be at least 1 and at most 65535"),
    (["--port", "http"], "'http' is not an integer"),
    (["--publish-interval", "0"], "0 is out of range: it must be above 0"),
    (["--heartbeat", "nan"], "nan is out of range"),
    (["--workers", "-1"], "-1 is out of range"),
    (["--reasonable-monitoring-window", "0"], "0 is out of range"),
    (["--read-only"], "--read-only needs --db"),
    (["--publish-intervall", "1"], "unrecognized arguments"),
])
def test_a_bad_argument_is_refused_in_one_line_before_anything_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str], why: str) -> None:
    data = tmp_path / "data"
    code, out, err = run(capsys, "serve", "--data", str(data), "--create", *bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and why in err, err
    assert not data.exists()


def test_serve_makes_a_folder_only_when_asked_and_never_in_someone_elses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: None)
    data, other = tmp_path / "data", tmp_path / "photos"
    code, _, err = run(capsys, "serve", "--data", str(data))
    assert code == 2 and f"veritree init --data {data}" in err and not data.exists()
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"jpeg")
    for args in (["serve", "--data", str(other), "--create"], ["init", "--data", str(other)]):
        code, _, err = run(capsys, *args)
        assert code == 2 and "holds something other than a key directory" in err
    assert sorted(p.name for p in other.iterdir()) == ["holiday.jpg"]

    code, out, _ = run(capsys, "init", "--data", str(data))
    assert code == 0
    fingerprint = re.search(r"configuration fingerprint ([0-9a-f]{64})", out)
    assert fingerprint and 'fingerprint="<that>"' in out
    code, _, err = run(capsys, "init", "--data", str(data))
    assert code == 2 and "holds a key directory already" in err
    code, out, _ = run(capsys, "serve", "--data", str(data))
    assert code == 0 and f"configuration fingerprint {fingerprint[1]}" in out
    # What the printed fingerprint pins: the configuration the directory serves.
    with veritree.KtDirectory.open(data / "log", (data / "signing.key").read_bytes(), (data / "vrf.key").read_bytes(),
                                   reasonable_monitoring_window=86_400_000) as d:
        assert config_fingerprint(d.config) == fingerprint[1]


def test_a_registration_secret_is_checked_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, secret = tmp_path / "data", tmp_path / "secret"
    secret.write_bytes(b"short")
    secret.chmod(0o600)
    code, _, err = run(capsys, "serve", "--data", str(data), "--create", "--registration-secret", str(secret))
    assert code == 2 and "at least 32 bytes" in err and not data.exists()
    code, _, err = run(capsys, "serve", "--data", str(data), "--create", "--registration-secret", str(tmp_path / "none"))
    assert code == 2 and "No such file" in err


def test_bench_plot_refuses_a_file_before_measuring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "charts"
    a_file.write_text("")
    code, out, err = run(capsys, "bench", "--quick", "--plot", str(a_file))
    assert code == 2 and "is not a folder" in err and out == ""
