"""Layout of an industry-chain map: nodes in upstream / midstream / downstream columns, edges as curves from a
node's right side to the next column's left side; colours as SVG presentation attributes (no inline style,
so the same drawing works inside the page under the CSP and as a downloaded file)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from models import CHAIN_STAGES

WIDTH, COLUMN, BOX_W, BOX_H, GAP, TOP = 960, 320, 240, 78, 26, 56
# fill by a node's activity (demands + achievements + matches + contracts; share of the busiest node): pale to
# strong blue; a green dot marks a node with matches, a purple one a node with registered contracts
FILLS = ("#f4f6f8", "#dbe9f6", "#b6d3ee", "#86b5e0", "#4f8fcc")
NEEDS_RESULTS, NEEDS_FIRMS = "#c0392b", "#d68910"
MATCH_DOT, CONTRACT_DOT = "#1e8449", "#7d3c98"


def activity(s: object) -> int:
    """What the fill counts for a node: its demands, achievements, matches and contracts."""
    return s.demands + s.achievements + s.matches + s.contracts


@dataclass
class Box:
    stat: object  # services.chains.NodeStat
    x: int
    y: int
    fill: str
    stroke: str
    dashed: bool
    selected: bool


@dataclass
class Curve:
    d: str
    width: float
    active: bool
    title: str


@dataclass
class Layout:
    width: int
    height: int
    columns: list[tuple[str, int]]  # stage, x of its centre
    boxes: list[Box]
    curves: list[Curve]


def layout(stats: Sequence[object], edges: Sequence[object], selected: Optional[int] = None) -> Layout:
    """Place each node's box in its stage's column and draw its edges; `selected` highlights a node's edges."""
    top = max([activity(s) for s in stats] + [1])
    boxes: dict[int, Box] = {}
    rows = {stage: 0 for stage in CHAIN_STAGES}
    for s in stats:
        col = CHAIN_STAGES.index(s.node.stage)
        x = 40 + col * COLUMN
        y = TOP + rows[s.node.stage] * (BOX_H + GAP)
        rows[s.node.stage] += 1
        level = 0 if not activity(s) else 1 + min(3, int(3 * activity(s) / top))
        stroke = NEEDS_RESULTS if s.needs_results else NEEDS_FIRMS if s.needs_firms else "#5d6d7e"
        boxes[s.node.id] = Box(s, x, y, FILLS[level], stroke, s.needs_results or s.needs_firms, s.node.id == selected)
    curves = []
    for e in edges:
        a, b = boxes.get(e.from_id), boxes.get(e.to_id)
        if a is None or b is None:
            continue
        x1, y1, x2, y2 = a.x + BOX_W, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2
        mid = (x1 + x2) // 2
        width = 1.5 + 4 * float(e.weight) if e.weight else 1.5
        title = f"{a.stat.node.name_zh} → {b.stat.node.name_zh}" + (f" {e.quantity}" if e.quantity else "")
        curves.append(Curve(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}", round(width, 1),
                            selected in (e.from_id, e.to_id), title))
    height = TOP + max(list(rows.values()) + [1]) * (BOX_H + GAP) + 20
    return Layout(WIDTH, height, [(st, 40 + i * COLUMN + BOX_W // 2) for i, st in enumerate(CHAIN_STAGES)],
                  list(boxes.values()), curves)
