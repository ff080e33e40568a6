"""Bar charts as inline SVG, built on the server (no JavaScript, nothing fetched from elsewhere)."""
from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

COLOURS = ("#2f6fb0", "#e08a1e", "#3a9a5b", "#b04a4a")


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
              unit: str = "", width: int = 640) -> Markup:
    """Horizontal grouped bars: one row per label, one bar per series, value printed after each bar."""
    bar_h, gap, left, right = 14, 10, 150, 70
    group_h = bar_h * len(series) + gap
    legend_h = 22
    height = legend_h + max(1, len(labels)) * group_h + 10
    top = max([v for _, values in series for v in values] + [0]) or 1
    scale = (width - left - right) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for s, (name, _values) in enumerate(series):
        x = left + s * 130
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLOURS[s % len(COLOURS)]}"/>'
                     f'<text x="{x + 16}" y="14" font-size="12">{escape(name)}</text>')
    for i, label in enumerate(labels):
        y0 = legend_h + i * group_h
        parts.append(f'<text x="{left - 6}" y="{y0 + group_h / 2}" font-size="12" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(label)}</text>')
        for s, (_name, values) in enumerate(series):
            value = values[i]
            y, w = y0 + s * bar_h, max(value * scale, 0)
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(label)}: {value:g}</title></rect>'
                         f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11">{value:g}{escape(unit)}'
                         f'</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
