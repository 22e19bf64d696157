"""The README's tour runs as written and its numbers are true."""

from __future__ import annotations

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_tour_code_runs_and_its_comments_hold() -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    illustrative = ("mypkg", "build_order_workflow", "ask_for_approval", "wst.")
    runnable = [b for b in blocks if not any(word in b for word in illustrative)]
    assert len(runnable) >= 2
    namespace: dict[str, object] = {}
    exec(compile("\n".join(runnable), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert result.makespan == 7.0  # type: ignore[attr-defined]
    assert result.trace.retry_delays("analyze") == [1.0, 2.0]  # type: ignore[attr-defined]
    assert str(result.context["at"]).startswith("2026-01-01 00:00:07")  # type: ignore[attr-defined]


def test_quick_start_has_exactly_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert [c.strip() for c in commands] == [
        "python -m pip install -e . && wfsim run scenarios/",
        'python -m pip install -e ".[test]" && python -m pytest',
    ]


def test_readme_scenario_loads_and_passes() -> None:
    from wfsim.scenario import load_scenario_text, run_scenario

    text = (REPO / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    outcome = run_scenario(load_scenario_text(block, "README.md"))
    assert outcome.passed, outcome.report()
    # The block is the shipped file it names, so the README's commands on it run as written.
    assert block.startswith("# scenarios/orders.wfsim.yaml\n")
    assert (REPO / "scenarios" / "orders.wfsim.yaml").read_text() == block


PATH_RE = r"\b((?:specs|scenarios|examples|tests|benchmarks|scripts)/[\w./*-]+)"
#: Names that stand for any file in the specs' prose.
PLACEHOLDERS = {"scenarios/x.wfsim.yaml"}


def test_the_repo_stands_alone() -> None:
    """specs/ and the README cite no file outside the repo; every file they name exists."""
    texts = {p.relative_to(REPO).as_posix(): p.read_text() for p in (REPO / "specs").glob("*.md")}
    texts["README.md"] = (REPO / "README.md").read_text()
    for name, text in texts.items():
        for outside in ("semantics.md", "design.md", "style.md", "shared/"):
            assert outside not in text, f"{name} cites {outside}, which is not in the repository"
        base = REPO / name.rpartition("/")[0]
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):  # markdown links
            assert (base / target).exists(), f"{name} links to {target}, which does not exist"
        for path in re.findall(PATH_RE, text):
            path = path.rstrip(".")
            if "*" in path or path.endswith("/") or path in PLACEHOLDERS:
                continue
            assert (REPO / path).exists(), f"{name} names {path}, which does not exist"
