"""The optional dependencies: `pip install veritree` needs numpy only; the key
directory's HTTP service and its client transport (`veritree.ckv.server`,
`veritree.ckv.http`, `veritree serve`, `veritree demo`) need the `server` extra."""

from __future__ import annotations

SERVER_EXTRA = "pip install 'veritree[server]'"
#: The top-level modules the server extra brings (fastapi brings pydantic and starlette).
SERVER_MODULES = frozenset({"fastapi", "uvicorn", "httpx", "anyio", "starlette", "pydantic"})


def needs_server_extra(error: ImportError) -> bool:
    """Whether `error` is a module of the server extra that is not installed."""
    return isinstance(error, ModuleNotFoundError) and (error.name or "").partition(".")[0] in SERVER_MODULES


def server_extra_missing(error: ModuleNotFoundError, needed_by: str) -> ModuleNotFoundError:
    """`error` told with what needs the module and how to install it."""
    return ModuleNotFoundError(f"{needed_by} needs {error.name}, which is not installed: {SERVER_EXTRA}",
                               name=error.name)
