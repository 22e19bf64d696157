"""The README's order workflow in Python: reserve, charge (retried), ship.

The same workflow as ``scenarios/orders.wfsim.yaml`` with the steps named as the
README's pytest examples name them::

    from examples.orders import build_order_workflow
    result = wfsim.run(build_order_workflow(), seed=7)

``workflow`` is one built at import, for ``"examples.orders:workflow"`` references
(``wfsim.check_determinism``, a scenario file's ``workflow: {python: ...}``).
"""

from __future__ import annotations

import wfsim

__all__ = ["build_order_workflow", "workflow"]


def build_order_workflow() -> wfsim.Workflow:
    """``reserve`` (1s) < ``charge`` (2s, up to 3 attempts, 1s then 2s apart) < ``ship`` (1s)."""
    wf = wfsim.Workflow("orders")
    reserve = wf.add_step("reserve", duration="1s", output={"reserved": True})
    charge = wf.add_step(
        "charge",
        after=[reserve],
        duration="2s",
        output={"charged": True},
        retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1, backoff_coefficient=2),
    )
    wf.add_step("ship", after=[charge], duration="1s", output={"shipped": True})
    return wf


workflow = build_order_workflow()
