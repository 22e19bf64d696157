"""pytester for the plugin tests, quiet about the plugin's own package.

Inline runs reuse this process, where ``wfsim`` is imported already, so pytest
warns that it cannot rewrite the plugin's package again; a fresh process would not.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-p no:cacheprovider -W ignore::pytest.PytestAssertRewriteWarning"
    )
    return pytester
