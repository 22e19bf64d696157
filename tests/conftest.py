"""Shared test configuration.

`pytest_plugins` must live in a top-level conftest (pytest refuses it in tests/plugin/):
pytester drives the plugin tests in tests/plugin/.

Hypothesis profiles: ``ci`` (the default: bounded, deterministic database-free runs so
CI cannot flake on a slow machine) and ``nightly`` (``--hypothesis-profile=nightly``:
ten times the examples). The property suite in tests/properties/ runs 2,000 examples
under ``ci``.
"""

from hypothesis import settings

pytest_plugins = ["pytester"]

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("nightly", deadline=None, print_blob=True, max_examples=1000)
settings.load_profile("ci")
