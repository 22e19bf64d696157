"""The order workflow under real DBOS (SQLite), run as a subprocess by wfsim.dbos.

argv: DB LOG POINT MODE. Each step appends its name to LOG as its effect. POINT
(``charge:before``, ``charge:after``, ``ship:before`` or ``none``) makes the process die
(``os._exit(17)``) inside that step, once. MODE ``start`` starts workflow ``order-7``;
``recover`` relaunches DBOS, which recovers the pending workflow, and waits for it.
Prints the workflow's result as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

db, log, point, mode = sys.argv[1:5]
DBOS(
    config=DBOSConfig(
        name="wfsim-conformance",
        system_database_url=f"sqlite:///{db}",
        log_level="ERROR",
        console_log_level="ERROR",
    )
)


def _crash(name: str, at: str) -> None:
    marker = log + ".crashed"
    if point == f"{name}:{at}" and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(17)


def _step(name: str) -> Any:
    @DBOS.step(name=name)
    def run(item: dict[str, Any]) -> str:
        _crash(name, "before")
        with open(log, "a") as f:
            f.write(name + "\n")
        _crash(name, "after")
        return f"{name}-{item['id']}"

    return run


reserve, charge, ship = _step("reserve"), _step("charge"), _step("ship")


@DBOS.workflow(name="order")
def order(item: dict[str, Any]) -> list[str]:
    return [reserve(item), charge(item), ship(item)]


DBOS.launch()
if mode == "start":
    with SetWorkflowID("order-7"):
        handle = DBOS.start_workflow(order, {"id": 7})
else:
    handle = DBOS.retrieve_workflow("order-7")
print(json.dumps(handle.get_result()))
DBOS.destroy()
