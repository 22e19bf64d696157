"""Loading a scenario file: read, validate, build. Every failure is one ScenarioError."""

from __future__ import annotations

import codecs
import os
import pathlib
from collections.abc import Mapping

from wfsim.errors import ScenarioError

from ._model import Scenario, build_scenario
from ._schema import describe, validate
from ._yaml import read_yaml, scenario_error

__all__ = ["load_scenario", "load_scenario_text"]


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load the scenario file at ``path``.

    Messages name the file as ``path`` was given, so a relative path gives
    relative names. Raises :class:`~wfsim.errors.ScenarioError`, and nothing
    else, for a file that cannot be read or is not a valid scenario::

        try:
            scenario = load_scenario("scenarios/orders.wfsim.yaml")
        except ScenarioError as exc:
            print(exc)  # scenarios/orders.wfsim.yaml:12: workflow.steps.ship.after[0]: ...
    """
    file = os.fspath(path)
    try:
        data = pathlib.Path(file).read_bytes()
    except OSError as exc:
        raise ScenarioError(
            f"{file}: cannot read the scenario file: {exc.strerror or exc}", file=file
        ) from None
    return _load(_decode(data, file), file, os.path.dirname(os.path.abspath(file)))


def load_scenario_text(text: str, filename: str = "<string>") -> Scenario:
    """Load a scenario from ``text``; ``filename`` names it in messages.

    A ``python:`` workflow is imported with ``filename``'s directory (the
    current directory for ``<string>``) on ``sys.path``.
    """
    base = os.getcwd() if filename.startswith("<") else os.path.dirname(os.path.abspath(filename))
    return _load(text, filename, base)


def _decode(data: bytes, file: str) -> str:
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise scenario_error(
            file, line, (), f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded"
        ) from None


def _load(text: str, file: str, base_dir: str) -> Scenario:
    try:
        data, locations = read_yaml(text, file)
        if not isinstance(data, Mapping):
            line = locations.line(()) or 1
            if data is None:
                raise scenario_error(
                    file,
                    line,
                    (),
                    "the file is empty; a scenario is a mapping with at least "
                    "'scenario' and 'workflow'",
                )
            raise scenario_error(
                file,
                line,
                (),
                f"expected a mapping with at least 'scenario' and 'workflow' "
                f"at the top level, got {describe(data)}",
            )
        validate(data, file, locations)
        return build_scenario(data, file, locations, base_dir)
    except ScenarioError:
        raise
    except RecursionError:
        raise scenario_error(file, None, (), "the document is nested too deeply") from None
    except Exception as exc:  # the last resort: SCN-10 promises a ScenarioError
        raise scenario_error(
            file,
            None,
            (),
            f"could not load the scenario ({type(exc).__name__}: {exc}); "
            "this is a bug in wfsim, please report it",
        ) from exc
