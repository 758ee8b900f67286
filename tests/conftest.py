"""Shared fixtures. Plain helpers and the RFC 9162 reference live in reference.py."""

import pytest
import veritree
from hypothesis import settings

settings.register_profile("veritree", max_examples=100, deadline=None)
settings.load_profile("veritree")


@pytest.fixture(params=veritree.SUITES)
def suite(request: pytest.FixtureRequest) -> str:
    return request.param
