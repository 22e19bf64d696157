"""The public surface is pinned: adding or removing a name is a decision, not an accident."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import wfsim

PUBLIC = {
    "Handle",
    "MergeConflictError",
    "ParallelGroup",
    "task",
    "Event",
    "EventStep",
    "EventWorkflow",
    "StartEvent",
    "StopEvent",
    "StreamedEvent",
    "DEFAULT_EPOCH",
    "DEFAULT_TIME_LIMIT",
    "AttemptRecord",
    "ChoiceSource",
    "ContextKeyError",
    "CycleError",
    "DeterminismError",
    "NondeterminismError",
    "DeterminismReport",
    "AsyncioUnsupportedError",
    "EngineError",
    "ExternalWaitError",
    "Fault",
    "InjectedError",
    "RetryPolicy",
    "RetryPolicyError",
    "RunResult",
    "SeededChoices",
    "Step",
    "StepContext",
    "StepResult",
    "Tape",
    "Trace",
    "TraceEvent",
    "UnknownStepError",
    "WallClockError",
    "WfsimError",
    "Workflow",
    "WorkflowDefinitionError",
    "arun",
    "backoff_ns",
    "check_determinism",
    "retry_delay",
    "replay_history",
    "run",
    "run_many",
    "to_ns",
    "to_seconds",
    "SagaPolicy",
    "compensation",
    "ImperativeWorkflow",
    "ChildCall",
    "CircuitBreaker",
    "CircuitOpenError",
    "Signal",
    "SignalTimeoutError",
    "StepCall",
    "StepTimeoutError",
    "WorkflowContext",
    "workflow",
}

ROOT = pathlib.Path(wfsim.__file__).parent


def test_all_is_pinned() -> None:
    assert set(wfsim.__all__) == PUBLIC
    for name in wfsim.__all__:
        assert hasattr(wfsim, name), name


def test_no_public_class_looks_like_a_test() -> None:
    assert not [n for n in wfsim.__all__ if n.startswith("Test")]


def test_errors_derive_from_wfsim_error_and_a_builtin() -> None:
    for name in wfsim.__all__:
        obj = getattr(wfsim, name)
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj is not wfsim.WfsimError:
            if obj is wfsim.InjectedError:
                continue  # stands in for a user's exception, not a wfsim failure
            assert issubclass(obj, wfsim.WfsimError), name
            assert any(
                b in obj.__mro__ for b in (ValueError, KeyError, RuntimeError, TimeoutError)
            ), name


def test_core_imports_nothing_above_it() -> None:
    """Layers point down: wfsim/_core may import wfsim.errors and itself, nothing else of wfsim."""
    for path in (ROOT / "_core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.level == 0
                and node.module.startswith("wfsim")
            ):
                assert node.module == "wfsim.errors" or node.module.startswith("wfsim._core"), (
                    f"{path.name} imports {node.module}"
                )


def _type_checking_homes(path: pathlib.Path) -> dict[str, str]:
    """``name -> module`` of the imports under ``if TYPE_CHECKING:`` in ``path``."""
    homes: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for sub in node.body:
                assert isinstance(sub, ast.ImportFrom) and sub.module
                homes.update({alias.name: sub.module for alias in sub.names})
    return homes


def test_lazy_names_resolve_where_type_checkers_look() -> None:
    """``wfsim`` and ``wfsim.report`` import names on first use (PEP 562): the table they
    import from agrees with the imports type checkers and IDEs read."""
    import wfsim.report

    for package in (wfsim, wfsim.report):
        assert package.__file__ is not None
        homes = _type_checking_homes(pathlib.Path(package.__file__))
        assert homes == package._HOME
        assert set(homes) == set(package.__all__)
    # Each name is the object its home module holds: checked in a fresh interpreter, since
    # pytester's in-process runs in this session restore sys.modules and so may import a
    # home module a second time, after the package already handed out the first one's.
    code = (
        "import importlib, wfsim, wfsim.report\n"
        "for package in (wfsim, wfsim.report):\n"
        "    for name, home in package._HOME.items():\n"
        "        home_module = importlib.import_module(home)\n"
        "        assert getattr(package, name) is getattr(home_module, name), name\n"
        "        assert name in dir(package), name\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        wfsim.nothing_here  # noqa: B018


def test_import_wfsim_and_help_leave_the_engine_unimported() -> None:
    """``import wfsim`` and ``wfsim --help`` start fast (issue 16): no trio, no asyncio, no
    engine until a name is used."""
    code = (
        "import sys, contextlib, io\n"
        "import wfsim\n"
        "from wfsim._cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in ('trio', 'asyncio', 'wfsim._core._engine', 'wfsim.campaign',"
        " 'wfsim.report._html', 'pytest') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
