"""One small estate per test session: generating it is cheap but not free."""

from __future__ import annotations

import pytest

from migrate.factory import generate


@pytest.fixture(scope="session")
def small_estate(tmp_path_factory):
    out = tmp_path_factory.mktemp("estate")
    manifest = generate(out, seed=7, scale="small")
    return out, manifest
