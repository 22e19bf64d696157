"""Rewrite every spec rule's "Enforced by:" line from the tests that mark it.

Run from the repository root after adding or moving tests:

    python scripts/fill_spec_links.py

It reads the `@pytest.mark.spec("ID", ...)` markers in the test files git tracks (so a
colleague's uncommitted work does not leak in) and lists, under each rule of
`specs/*.md`, exactly the files whose markers name it. `tests/test_specs.py` fails
when the lines and the markers disagree.
"""

from __future__ import annotations

import pathlib
import re
import subprocess

RULE_RE = re.compile(r"^### ([A-Z]+-\d+): (.+)$")
MARK_RE = re.compile(r"pytest\.mark\.spec\(([^)]*)\)")
ID_RE = re.compile(r'"([A-Z]+-\d+)"')


def tracked(*paths: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", *paths], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def marked_rules() -> dict[str, set[str]]:
    marked: dict[str, set[str]] = {}
    for rel in tracked("tests"):
        path = pathlib.Path(rel)
        if not (path.name.startswith("test_") and path.suffix == ".py" and path.exists()):
            continue
        for mark in MARK_RE.finditer(path.read_text()):
            for rule in ID_RE.findall(mark.group(1)):
                marked.setdefault(rule, set()).add(rel)
    return marked


def main() -> None:
    marked = marked_rules()
    for rel in tracked("specs"):
        path = pathlib.Path(rel)
        if path.suffix != ".md":
            continue
        lines, current = [], None
        for line in path.read_text().splitlines(keepends=True):
            rule = RULE_RE.match(line.rstrip("\n"))
            if rule:
                current = rule.group(1)
            if line.startswith("Enforced by:") and current:
                files = sorted(marked.get(current, ()))
                line = "Enforced by: " + (", ".join(f"`{f}`" for f in files) or "TESTS") + "\n"
            lines.append(line)
        path.write_text("".join(lines))


if __name__ == "__main__":
    main()
