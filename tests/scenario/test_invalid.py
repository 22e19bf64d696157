"""Broken scenario files: each gives exactly the error its ``.error`` file holds."""

from __future__ import annotations

import pathlib

import pytest

from wfsim.scenario import ScenarioError, load_scenario

HERE = pathlib.Path(__file__).parent
REPO = HERE.parent.parent
INVALID = HERE / "invalid"
CASES = sorted(INVALID.glob("*.wfsim.yaml"))


def expected_error(case: pathlib.Path) -> str:
    return case.with_suffix("").with_suffix(".error").read_text().rstrip("\n")


@pytest.mark.spec(
    "SCN-1",
    "SCN-2",
    "SCN-3",
    "SCN-4",
    "SCN-5",
    "SCN-6",
    "SCN-7",
    "SCN-8",
    "SCN-9",
    "SCN-10",
    "SCN-11",
    "SCN-12",
    "SCN-15",
)
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name.removesuffix(".wfsim.yaml"))
def test_invalid_file_gives_exactly_its_error(
    case: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # messages name the file relative to the repository
    rel = case.relative_to(REPO).as_posix()
    with pytest.raises(ScenarioError) as info:
        load_scenario(rel)
    error = info.value
    assert expected_error(case) == str(error)
    assert error.file == rel
    assert str(error).startswith(f"{rel}:{error.line}: ")
    if error.field:
        assert str(error).startswith(f"{rel}:{error.line}: {error.field}: ")


@pytest.mark.spec("SCN-10")
def test_every_case_has_its_error_file_and_there_are_enough() -> None:
    errors = {p.name.removesuffix(".error") for p in INVALID.glob("*.error")}
    cases = {p.name.removesuffix(".wfsim.yaml") for p in CASES}
    assert errors == cases
    assert len(cases) >= 25
