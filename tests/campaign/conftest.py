"""Scenario files the campaign tests run, written fresh into each test's directory."""

from __future__ import annotations

import pathlib

import pytest

# Fails for about one seed in five: each attempt fails with chance 0.3 and a step has
# two attempts; `parse` and `save` are ready together, so seeds also order them.
FLAKY = """\
scenario: three steps against a flaky service
workflow:
  name: flaky
  max_concurrency: 2
  steps:
    fetch: {duration: 1s, retry: {max_attempts: 2, initial_interval: 1s}}
    parse: {after: [fetch], duration: 500ms, retry: {max_attempts: 2, initial_interval: 1s}}
    save:
      after: [fetch]
      duration: 2s
      retry: {max_attempts: 2, initial_interval: 1s, jitter: full}
faults:
  - {step: "*", error: ConnectionError, probability: 0.3}
expect:
  status: completed
"""

# Passes for every seed: ten attempts make a final failure practically impossible.
STEADY = """\
scenario: two steps that retry until they succeed
workflow:
  name: steady
  steps:
    a: {duration: 1s, retry: {max_attempts: 10, initial_interval: 1s}}
    b: {after: [a], duration: 1s}
faults:
  - {step: a, error: ConnectionError, attempts: [1]}
expect:
  status: completed
  attempts: {a: 2}
  retry_delays: {a: [1s]}
  makespan: 3s
"""


def write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def flaky(tmp_path: pathlib.Path) -> pathlib.Path:
    return write(tmp_path, "flaky.wfsim.yaml", FLAKY)


@pytest.fixture
def steady(tmp_path: pathlib.Path) -> pathlib.Path:
    return write(tmp_path, "steady.wfsim.yaml", STEADY)


@pytest.fixture
def store(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "out" / "campaigns.sqlite"
