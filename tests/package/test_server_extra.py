"""`pip install veritree` needs numpy only: without the server extra (fastapi,
uvicorn, httpx, anyio; made unimportable here) everything but the HTTP
service and its transport imports and works, and the commands that need the
extra say what to install."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import veritree

#: Runs first in each child: the server extra's modules (and those they bring) cannot be imported.
WITHOUT_SERVER_EXTRA = textwrap.dedent("""
    import sys

    class WithoutServerExtra:
        blocked = {"fastapi", "uvicorn", "httpx", "starlette", "anyio", "pydantic"}

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, WithoutServerExtra())
""")
#: The modules that need the server extra: the HTTP service, its transport, and the demo that runs both.
NEEDS_SERVER = {"veritree.ckv.server", "veritree.ckv.http", "veritree.ckv.demo"}
HINT = "pip install 'veritree[server]'"


def without_server_extra(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_SERVER_EXTRA + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120)


def package_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(veritree.__path__, "veritree."))


def test_everything_but_the_http_parts_imports_and_works_without_the_extra() -> None:
    modules = [m for m in package_modules() if m not in NEEDS_SERVER]
    assert {"veritree.ckv", "veritree.client", "veritree.cli", "veritree.ckv.transport"} <= set(modules)
    done = without_server_extra(f"""
        import importlib
        for name in {modules!r}:
            importlib.import_module(name)
        import veritree
        from veritree.ckv import CkvClient, Device, LocalTransport
        from veritree.client import TileClient

        d = veritree.KtDirectory(b"\\x01" * 32, b"\\x02" * 32)
        clock = iter(range(1_700_000_000_000, 1_800_000_000_000, 1000)).__next__
        d.publish(clock())
        ann = CkvClient.connect(LocalTransport(d, clock), clock=clock)
        ann.create_account([b"user:ann"], Device(b"phone", b"P" * 32))
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in WithoutServerExtra.blocked)
        assert not loaded, loaded
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_http_parts_say_what_to_install() -> None:
    for code in [*(f"import {name}" for name in sorted(NEEDS_SERVER)), "from veritree.ckv import HttpTransport"]:
        done = without_server_extra(code)
        assert done.returncode == 1, code
        assert "ModuleNotFoundError" in done.stderr and HINT in done.stderr, (code, done.stderr)


def test_serve_and_demo_say_what_to_install(tmp_path: Path) -> None:
    main = "from veritree.cli import main; sys.exit(main(sys.argv[1:]))"
    for args in (["serve", "--data", str(tmp_path / "data"), "--create"], ["demo"]):
        done = without_server_extra(main, *args)
        assert done.returncode == 1, done.stderr
        assert f"veritree {args[0]} needs the server extra" in done.stderr and HINT in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "data").exists(), "nothing is made before the extra is found missing"
    # What needs no extra still runs.
    done = without_server_extra(main, "keygen", "example.com/log", "--out", str(tmp_path / "log"))
    assert done.returncode == 0 and done.stdout.startswith("example.com/log+"), done.stderr
