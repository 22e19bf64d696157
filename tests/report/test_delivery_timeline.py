"""The timeline marks delivery faults on a row of their own (CLI-11, FAULT-20)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import wfsim
from tests.core.test_delivery_faults import relay
from wfsim.report import timeline_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.spec("CLI-11", "FAULT-20")
def test_delivery_faults_are_marked_on_a_delivery_faults_row() -> None:
    plan = [wfsim.Fault.duplicate(event="Item"), wfsim.Fault.delay(event="StopEvent", by=2)]
    svg = ET.fromstring(timeline_svg(wfsim.run(relay(), faults=plan).trace))
    rows = [row.get("data-step") for row in svg.findall(f"{SVG}g")]
    # the delayed StopEvent leaves 2s in which nothing runs: a wait
    assert rows == ["first", "deliveries", "finish", "finish:2", "waits"]
    marks = svg.findall(f".//{SVG}line[@class='mark delivery']")
    tips = [m.find(f"{SVG}title").text for m in marks]  # type: ignore[union-attr]
    # both copies of Item reach `finish`, whose two StopEvents are each delayed
    assert tips == [
        "duplicate of event Item #1 | 1s",
        "delay of event StopEvent #1 | 2s",
        "delay of event StopEvent #2 | 2s",
    ]
