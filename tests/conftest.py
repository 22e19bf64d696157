"""Shared test configuration: pytester drives the plugin tests in tests/plugin/.

`pytest_plugins` must live in a top-level conftest (pytest refuses it in tests/plugin/).
"""

pytest_plugins = ["pytester"]
