"""Shared test configuration.

`pytest_plugins` must live in a top-level conftest (pytest refuses it in tests/plugin/):
pytester drives the plugin tests in tests/plugin/.

Hypothesis profiles: ``ci`` (the default: bounded, deterministic database-free runs so
CI cannot flake on a slow machine) and ``nightly`` (``--hypothesis-profile=nightly``:
ten times the examples). The property suite in tests/properties/ runs 2,000 examples
under ``ci``.
"""

import importlib.util

import pytest
from hypothesis import settings

pytest_plugins = ["pytester"]

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("nightly", deadline=None, print_blob=True, max_examples=1000)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _quiet_pytest_asyncio(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester runs load every installed plugin; pytest-asyncio (the test extra, for
    PLUG-9) warns in each run whose ini leaves its loop scope unset. Set it for them."""
    if "pytester" in request.fixturenames and importlib.util.find_spec("pytest_asyncio"):
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts
        monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function")
