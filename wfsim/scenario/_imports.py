"""Importing the modules a scenario file names (``python:`` targets, ``module:Class`` errors).

All of the scenario loader's ``sys.path`` handling lives in :func:`import_module`,
so where such modules are searched for is decided in one place (SCN-6).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types

__all__ = ["import_module"]


def import_module(name: str, base_dir: str) -> types.ModuleType:
    """Import ``name`` with ``base_dir`` and then the current directory searched first.

    The two entries are on ``sys.path`` only while the import runs: a scenario
    leaves ``sys.path`` as it found it, so what the rest of a session can import
    does not depend on which scenario files were loaded before. A module, once
    imported, stays in ``sys.modules`` as any import does.
    """
    added = [entry for entry in dict.fromkeys((base_dir, os.getcwd())) if entry not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):  # the imported code took it off itself
                sys.path.remove(entry)
