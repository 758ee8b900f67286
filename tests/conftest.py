"""Shared fixtures. The tests mirror the source (log/, notes/, map/, vrf/, kt/,
ckv/, storage/, ...); what they share lives in support/ (the pure-Python
references, the malicious directory, the simulation, the crash harnesses, a
fake clock), put on sys.path here so that tests import it by module name."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import veritree
from hypothesis import settings

SUPPORT = Path(__file__).resolve().parent / "support"
sys.path.insert(0, str(SUPPORT))

settings.register_profile("veritree", max_examples=100, deadline=None)
settings.load_profile("veritree")


@pytest.fixture(params=veritree.SUITES)
def suite(request: pytest.FixtureRequest) -> str:
    return request.param


def _postgres(variable: str) -> str:
    """The test server `variable` names (`.ci/postgres start` sets them), or a skip saying how to get one;
    with VERITREE_REQUIRE_PG set (CI) a missing server fails instead."""
    server = os.environ.get(variable)
    if server:
        return server
    message = f"no PostgreSQL ({variable} unset): start one with `eval \"$(bash .ci/postgres start)\"`"
    if os.environ.get("VERITREE_REQUIRE_PG"):
        pytest.fail(message)
    pytest.skip(message)


def _with_schema(server: str, schema: str) -> str:
    return f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> str:
    """A URL of the test server selecting a new, empty schema."""
    server = _postgres("VERITREE_TEST_PG")
    schema = "t" + secrets.token_hex(8)
    subprocess.run(["psql", "-X", "-q", "-d", server, "-c", f"CREATE SCHEMA {schema}"], check=True)
    return _with_schema(server, schema)


@pytest.fixture
def pg_standby_url(pg_url: str) -> str:
    """`pg_url`'s schema on the test server's streaming standby."""
    schema = pg_url.rsplit("%3D", 1)[1]
    return _with_schema(_postgres("VERITREE_TEST_PG_STANDBY"), schema)
