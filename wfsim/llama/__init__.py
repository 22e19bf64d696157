"""Run real LlamaIndex workflows (``workflows.Workflow`` classes) on wfsim (specs/llama.md).

::

    import wfsim, wfsim.llama
    from myapp.flows import ResearchFlow

    result = wfsim.run(wfsim.llama.adapt(ResearchFlow), input={"topic": "pirates"}, seed=3)

:func:`adapt` turns a ``Workflow`` subclass (or instance) into a
:class:`wfsim.EventWorkflow` whose steps call the class's own ``@step`` methods,
unmodified, with a ``ctx`` implementing the parts of LlamaIndex's ``Context``
that workflows use. Everything of wfsim then applies: seeds explore arrival
orders, faults target steps by method name and events by class name, oracles,
``wfsim simulate``, the pytest fixtures. Needs the extra:
``pip install 'pytest-wfsim[llama]'``.
"""

from __future__ import annotations

try:
    import workflows as _workflows  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a subprocess without the extra
    raise ImportError(
        "wfsim.llama needs llama-index-workflows: pip install 'pytest-wfsim[llama]'"
    ) from None

from ._adapter import LlamaContext, LlamaUnsupportedError, LlamaWorkflow, adapt

__all__ = ["LlamaContext", "LlamaUnsupportedError", "LlamaWorkflow", "adapt"]
