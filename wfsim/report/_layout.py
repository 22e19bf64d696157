"""The workflow graph as inline SVG: a layered left-to-right layout computed in Python.

A node's layer is the length of the longest chain of edges before it (for an event
workflow, whose events may loop back, edges that close a cycle are drawn but not
counted); within a layer nodes sit in the order that keeps them near their
predecessors (one barycentre pass), ties broken by declaration order, so the
picture is the same on every run and host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from wfsim._core._events import EventWorkflow
from wfsim._core._workflow import Workflow

from ._graph import _event_label, _event_types, _label, _sends
from ._svg import esc, num

__all__ = ["graph_svg"]

NODE_WIDTH = 170
NODE_HEIGHT = 40
GAP_X = 60
GAP_Y = 16
MARGIN = 10
#: Characters of a label shown in a box (the tooltip has all of it).
LABEL_CHARS = 24


@attrs.frozen
class _Node:
    key: str
    name: str
    label: str
    classes: str = "node"
    tip: str = ""


@attrs.frozen
class _Edge:
    src: str
    dst: str
    dashed: bool = False


def _layers(nodes: Sequence[_Node], edges: Sequence[_Edge]) -> list[list[str]]:
    order = {n.key: i for i, n in enumerate(nodes)}
    after: dict[str, list[str]] = {n.key: [] for n in nodes}
    for e in edges:
        after[e.dst].append(e.src)
    # Drop the edges that close a cycle: a depth-first walk in declaration order.
    kept: dict[str, list[str]] = {k: [] for k in order}
    state: dict[str, int] = {}
    succ: dict[str, list[str]] = {k: [] for k in order}
    for e in edges:
        succ[e.src].append(e.dst)
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                continue  # a back edge: drawn, not counted
            else:
                kept[child].append(node)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(succ[child])))
    # Longest path over the kept edges (a DAG), in topological order (Kahn).
    waiting = {k: len(kept[k]) for k in order}
    users: dict[str, list[str]] = {k: [] for k in order}
    for key, preds in kept.items():
        for pred in preds:
            users[pred].append(key)
    depth = {k: 0 for k in order}
    ready = [k for k in order if not waiting[k]]
    while ready:
        key = ready.pop()
        for user in users[key]:
            depth[user] = max(depth[user], depth[key] + 1)
            waiting[user] -= 1
            if not waiting[user]:
                ready.append(user)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for key in order:
        layers[depth[key]].append(key)
    position: dict[str, float] = {}
    for layer in layers:

        def centre(key: str) -> float:
            placed = [position[p] for p in after[key] if p in position]
            return sum(placed) / len(placed) if placed else float(order[key])

        layer.sort(key=lambda k: (centre(k), order[k]))
        for i, key in enumerate(layer):
            position[key] = float(i)
    return layers


def _dag(workflow: Workflow, reached: Mapping[str, int] | None) -> tuple[list[_Node], list[_Edge]]:
    workflow.validate()
    nodes, edges = [], []
    for name, step in sorted(workflow.steps.items(), key=lambda kv: kv[1].index):
        label = _label(step)
        classes = "node"
        if step.compensate is not None:
            classes += " compensated"
        if reached is not None and not reached.get(name):
            classes += " unreached"
        tip = label + (f" | compensation: {step.compensate.name}" if step.compensate else "")
        if reached is not None:
            tip += f" | reached in {reached.get(name, 0)} runs"
        nodes.append(_Node(name, name, label, classes, tip))
        edges += [_Edge(dep, name) for dep in step.after]
    return nodes, edges


def _events(
    workflow: EventWorkflow, reached: Mapping[str, int] | None
) -> tuple[list[_Node], list[_Edge]]:
    workflow.validate()
    nodes = [_Node(f"event:{t}", t, t, "node event", f"event {t}") for t in _event_types(workflow)]
    edges = []
    for name, step in workflow.event_steps.items():
        label = _event_label(step)
        classes = "node"
        tip = label
        if reached is not None:
            classes += "" if reached.get(name) else " unreached"
            tip += f" | reached in {reached.get(name, 0)} runs"
        nodes.append(_Node(name, name, label, classes, tip))
        edges += [_Edge(f"event:{t.__name__}", name) for t in step.accepts]
        edges += [_Edge(name, f"event:{k}", not returned) for k, returned in _sends(step) or ()]
    return nodes, edges


def graph_svg(
    workflow: Workflow | EventWorkflow, *, reached: Mapping[str, int] | None = None
) -> str:
    """The workflow as an ``<svg class="graph">`` element (a string).

    A DAG (:class:`~wfsim.Workflow`) is drawn as its steps and dependencies; an
    event workflow as its steps and event types (oval ``event`` nodes), an arrow
    from each type to the steps that accept it and from a step to each type it
    returns (solid) or emits (dashed). ``reached`` (step -> runs that reached
    it, from a campaign's coverage) marks steps no run reached ``unreached``.
    """
    if isinstance(workflow, EventWorkflow):
        nodes, edges = _events(workflow, reached)
    else:
        nodes, edges = _dag(workflow, reached)
    layers = _layers(nodes, edges)
    tallest = max((len(layer) for layer in layers), default=0)
    width = 2 * MARGIN + len(layers) * NODE_WIDTH + max(len(layers) - 1, 0) * GAP_X
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(layers):
        offset = (tallest - len(layer)) * (NODE_HEIGHT + GAP_Y) / 2
        for row, key in enumerate(layer):
            where[key] = (
                MARGIN + column * (NODE_WIDTH + GAP_X),
                MARGIN + offset + row * (NODE_HEIGHT + GAP_Y),
            )
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="workflow graph of {esc(workflow.name)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
    ]
    for edge in edges:
        (x0, y0), (x1, y1) = where[edge.src], where[edge.dst]
        forward = x1 > x0
        sx = x0 + NODE_WIDTH if forward else x0 + NODE_WIDTH / 2
        sy = y0 + NODE_HEIGHT / 2 if forward else y0 + NODE_HEIGHT
        ex = x1 if forward else x1 + NODE_WIDTH / 2
        ey = y1 + NODE_HEIGHT / 2 if forward else y1 + NODE_HEIGHT
        # A back edge (a loop of events) bends below the boxes.
        c1y = sy if forward else max(sy, ey) + GAP_Y + NODE_HEIGHT / 2
        mid = (sx + ex) / 2 if forward else sx
        end_mid = (sx + ex) / 2 if forward else ex
        classes = "edge dashed" if edge.dashed else "edge"
        parts.append(
            f'<path class="{classes}" data-from="{esc(edge.src)}" data-to="{esc(edge.dst)}" '
            f'd="M {num(sx)} {num(sy)} C {num(mid)} {num(c1y)}, {num(end_mid)} '
            f'{num(ey if forward else c1y)}, {num(ex)} {num(ey)}" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x0, y0 = where[node.key]
        shown = node.name if len(node.name) <= LABEL_CHARS else node.name[: LABEL_CHARS - 1] + "…"
        detail = " | ".join(node.label.split(" | ")[1:])
        radius = NODE_HEIGHT // 2 if "event" in node.classes.split() else 6
        parts.append(
            f'<g class="{node.classes}" data-step="{esc(node.key)}" '
            f'transform="translate({num(x0)},{num(y0)})"><title>{esc(node.tip or node.label)}'
            f'</title><rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="{radius}"/>'
            f'<text class="name" x="8" y="{16 if detail else 24}">{esc(shown)}</text>'
            f'<text class="detail" x="8" y="31">{esc(detail[: LABEL_CHARS + 4])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
