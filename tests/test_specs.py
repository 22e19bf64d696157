"""Specs and tests name each other: every rule is enforced, every marker names a rule."""

from __future__ import annotations

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
RULE_RE = re.compile(r"^### ([A-Z]+-\d+): (.+)$", re.M)
ENFORCED_RE = re.compile(r"^Enforced by: (.+)$", re.M)
MARK_RE = re.compile(r"pytest\.mark\.spec\(([^)]*)\)")
ID_RE = re.compile(r'"([A-Z]+-\d+)"')


def spec_rules() -> dict[str, tuple[str, list[str]]]:
    """rule id -> (spec file, test files listed under it)."""
    rules: dict[str, tuple[str, list[str]]] = {}
    for path in sorted((REPO / "specs").glob("*.md")):
        text = path.read_text()
        for match in RULE_RE.finditer(text):
            rule = match.group(1)
            assert rule not in rules, f"{rule} defined twice"
            rest = text[match.end():]
            nxt = RULE_RE.search(rest)
            body = rest[: nxt.start()] if nxt else rest
            enforced = ENFORCED_RE.search(body)
            files = re.findall(r"`([^`]+)`", enforced.group(1)) if enforced else []
            rules[rule] = (path.name, files)
    return rules


def marked_rules() -> dict[str, set[str]]:
    """rule id -> test files (relative to the repo) whose markers name it."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        rel = path.relative_to(REPO).as_posix()
        for mark in MARK_RE.finditer(path.read_text()):
            for rule in ID_RE.findall(mark.group(1)):
                out.setdefault(rule, set()).add(rel)
    return out


def test_specs_have_rules() -> None:
    rules = spec_rules()
    assert len(rules) >= 30
    prefixes = {r.split("-")[0] for r in rules}
    assert {"TIME", "DET", "ORD", "RETRY", "FAULT", "TRACE"} <= prefixes


@pytest.mark.parametrize("rule", sorted(spec_rules()))
def test_every_rule_is_enforced_by_the_tests_it_names(rule: str) -> None:
    spec, files = spec_rules()[rule]
    marked = marked_rules().get(rule, set())
    assert marked, f"{spec}: rule {rule} has no test marked @pytest.mark.spec({rule!r})"
    assert files, f"{spec}: rule {rule} has no 'Enforced by:' line"
    for file in files:
        assert (REPO / file).exists(), f"{spec}: {rule} names missing test file {file}"
    assert set(files) == marked, (
        f"{spec}: {rule} lists {sorted(files)} but markers are in {sorted(marked)}"
    )


def test_every_marker_names_a_rule() -> None:
    unknown = set(marked_rules()) - set(spec_rules())
    assert not unknown, f"markers name rules no spec defines: {sorted(unknown)}"
