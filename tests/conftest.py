"""Shared fixtures. The tests mirror the source (log/, notes/, map/, vrf/, kt/,
ckv/, storage/, ...); what they share lives in support/ (the pure-Python
references, the malicious directory, the simulation, the crash harnesses, a
fake clock), put on sys.path here so that tests import it by module name."""

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
