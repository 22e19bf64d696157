"""Conformance: random LlamaIndex workflow classes on the real runtime and on wfsim (LLAMA-9)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("workflows")

from wfsim._cli import main
from wfsim.llama._conformance import (
    agreement,
    generate,
    observe_real,
)

ROOT = Path(__file__).resolve().parents[2]

#: How many generated classes, and the wall-time budget for them (CI: 200 in ~60 s).
CASES = int(os.environ.get("WFSIM_CONFORMANCE_CASES", "200"))
BUDGET = float(os.environ.get("WFSIM_CONFORMANCE_BUDGET", "150"))


@pytest.mark.slow
@pytest.mark.spec("LLAMA-9")
def test_random_llama_index_classes_agree_with_the_real_runtime() -> None:
    started = time.monotonic()
    agree, differing, ran = 0, [], 0
    for seed in range(CASES):
        if time.monotonic() - started > BUDGET:
            break
        case = generate(seed)
        real = observe_real(case)
        differences, _ = agreement(case, real, seeds=8)
        for slower in (0.1, 0.3):
            if not differences:
                break
            # Real time drifts from virtual time by the runtime's own overhead, and
            # 0.5 virtual s is 10 ms at the default scale: a busy machine can reorder
            # two such instants. Look again at slower scales before judging.
            real = observe_real(case, scale=slower)
            differences, _ = agreement(case, real, seeds=8)
        ran += 1
        if not differences:
            agree += 1
        else:
            differing.append((seed, differences, case.source))
    print(f"conformance: {agree} of {ran} agree (LLAMA-9)")
    assert ran >= min(CASES, 40)
    assert not differing, differing[:3]


@pytest.mark.spec("LLAMA-9", "CLI-15")
def test_the_cli_reports_agreement_per_class(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["conformance", str(ROOT / "examples" / "llama_real_flows.py"), "--seeds", "24"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "agree  ConcurrentFlow: completed" in out
    assert "(1 compared as multisets)" in out
    assert out.rstrip().endswith("5 of 5 agree")


@pytest.mark.spec("CLI-15")
def test_the_cli_exits_1_on_a_disagreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A class whose result reads the wall clock: wfsim shows step code its epoch
    # (2026-01-01, TIME-4), the real runtime the host's clock, which is later.
    flow = tmp_path / "clocky.py"
    flow.write_text(
        "import time\n"
        "from workflows import Workflow, step\n"
        "from workflows.events import StartEvent, StopEvent\n"
        "class Clocky(Workflow):\n"
        "    @step\n"
        "    async def start(self, ev: StartEvent) -> StopEvent:\n"
        "        return StopEvent(result=time.time() > 1767225600 + 86400)\n"
    )
    assert main(["conformance", str(flow), "--seeds", "2"]) == 1
    out = capsys.readouterr().out
    assert "DIFFER Clocky" in out
    assert "result: real True, wfsim False" in out
    assert out.rstrip().endswith("0 of 1 agree")


@pytest.mark.spec("CLI-15")
def test_a_file_in_a_package_imports_its_siblings_from_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "project" / "myflows"
    package.mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (package / "__init__.py").write_text("")
    (package / "shared.py").write_text("ANSWER = 42\n")
    (package / "flows.py").write_text(
        "from workflows import Workflow, step\n"
        "from workflows.events import StartEvent, StopEvent\n"
        "from myflows.shared import ANSWER\n"
        "class _Base(Workflow):\n"  # a private base class is not a flow to compare
        "    pass\n"
        "class Answer(_Base):\n"
        "    @step\n"
        "    async def start(self, ev: StartEvent) -> StopEvent:\n"
        "        return StopEvent(result=ANSWER)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["conformance", str(package / "flows.py"), "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "agree  Answer: completed, result 42" in out
    assert out.rstrip().endswith("1 of 1 agree")


@pytest.mark.spec("CLI-15")
@pytest.mark.parametrize(("seeds", "shown"), [("0", "0"), ("-3", "-3"), ("two", "'two'")])
def test_seeds_is_a_positive_count_like_every_other_count_flag(
    seeds: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["conformance", "examples.llama_real_flows:ConcurrentFlow", "--seeds", seeds])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --seeds: expected an integer >= 1, not {shown}\n" in err


@pytest.mark.spec("CLI-15", "SCN-6")
def test_a_module_class_target_is_found_from_the_cwd_and_leaves_sys_path_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    (tmp_path / "tiny_flow_i15.py").write_text(
        "from workflows import Workflow, step\n"
        "from workflows.events import StartEvent, StopEvent\n"
        "class Tiny(Workflow):\n"
        "    @step\n"
        "    async def start(self, ev: StartEvent) -> StopEvent:\n"
        "        return StopEvent(result=1)\n"
    )
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert main(["conformance", "tiny_flow_i15:Tiny", "--seeds", "1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("1 of 1 agree")
    assert main(["conformance", "tiny_flow_i15:Nope"]) == 2
    assert "'tiny_flow_i15:Nope': AttributeError" in capsys.readouterr().err
    assert sys.path == before
