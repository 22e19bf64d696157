"""Importing the modules a scenario file names (``python:`` and ``llama_index:`` targets,
``module:Class`` errors).

All of the scenario loader's ``sys.path`` handling lives in :func:`import_module`,
so where such modules are searched for is decided in one place (SCN-6): the
scenario's directory, then its rootdir found the way pytest finds one (the nearest
ancestor holding ``pyproject.toml``, ``pytest.ini``, ``tox.ini`` or ``setup.cfg``)
and the ``pythonpath`` that rootdir's pytest configuration sets, then the current
directory.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import importlib
import os
import sys
import threading
import tomllib
import types
from pathlib import Path

__all__ = ["import_attribute", "import_module", "search_path"]

_ROOT_FILES = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")

#: Held while search entries are on sys.path (re-entrant: an import may load a scenario).
_PATH_LOCK = threading.RLock()


@functools.lru_cache(maxsize=256)
def _rootdir(directory: str) -> tuple[str, tuple[str, ...]] | None:
    """The nearest ancestor of ``directory`` with a project file, and the ``pythonpath``
    entries its pytest configuration lists (absolute), or None."""
    for folder in (Path(directory), *Path(directory).parents):
        found = [name for name in _ROOT_FILES if (folder / name).is_file()]
        if found:
            return str(folder), tuple(str(folder / p) for p in _pythonpath(folder, found))
    return None


def _pythonpath(folder: Path, files: list[str]) -> list[str]:
    """pytest's ``pythonpath`` ini option, from the first file that configures pytest."""
    for name in files:
        path = folder / name
        try:
            if name == "pyproject.toml":
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                options = data.get("tool", {}).get("pytest", {}).get("ini_options")
                if options is None:
                    continue
                value = options.get("pythonpath", [])
                return [value] if isinstance(value, str) else [str(v) for v in value]
            parser = configparser.ConfigParser()
            parser.read(path, encoding="utf-8")
            section = "tool:pytest" if name == "setup.cfg" else "pytest"
            if not parser.has_section(section):
                continue
            return parser.get(section, "pythonpath", fallback="").split()
        except (OSError, ValueError, configparser.Error):
            continue
    return []


def search_path(base_dir: str) -> list[str]:
    """Where a scenario in ``base_dir`` has its modules searched, first to last."""
    entries = [base_dir]
    root = _rootdir(os.path.abspath(base_dir))
    if root is not None:
        entries += [root[0], *root[1]]
    entries.append(os.getcwd())
    return list(dict.fromkeys(entries))


def import_module(name: str, base_dir: str) -> types.ModuleType:
    """Import ``name`` searching :func:`search_path` of ``base_dir`` first.

    The entries are on ``sys.path`` only while the import runs: a scenario
    leaves ``sys.path`` as it found it, so what the rest of a session can import
    does not depend on which scenario files were loaded before. A module, once
    imported, stays in ``sys.modules`` as any import does.
    """
    # One import at a time: threads share sys.path (a Dask worker may run several
    # batches at once), and one import must not remove the entry another searches.
    with _PATH_LOCK:
        added = [entry for entry in search_path(base_dir) if entry not in sys.path]
        sys.path[:0] = added
        importlib.invalidate_caches()
        try:
            return importlib.import_module(name)
        finally:
            for entry in added:
                with contextlib.suppress(ValueError):  # the imported code took it off itself
                    sys.path.remove(entry)


def import_attribute(target: str, base_dir: str) -> object:
    """``MODULE:ATTR`` (ATTR may be dotted) imported as :func:`import_module` does.

    Raises ``ValueError`` when ``target`` is not of that form, ``ImportError`` when
    the module cannot be imported and ``AttributeError`` when it lacks ``ATTR``.
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{target!r}: expected MODULE:ATTR")
    found: object = import_module(module, base_dir)
    for part in attr.split("."):
        found = getattr(found, part)
    return found
