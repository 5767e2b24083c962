"""Plotly figures of one model's effects, built from report rows (no torch).

* ``effect_figure``: effect against scale, one line per node, in-circuit green and out-of-circuit
  orange, one panel per mode (the seed notebook's figure, all modes side by side);
* ``mode_figure``: the same for a single mode at the notebook's 1000 x 400, for static export;
* ``heatmap_figure``: node x scale heatmaps of the effect, one per mode.

Hovering a point names node, mode, scale, effect and the cell counts.
"""
from __future__ import annotations

import math
from typing import Any

from ..core.modes import MODES
from ..core.nodes import parse_node
from .rows import EffectRow

IN_COLOUR, OUT_COLOUR = "green", "orange"
HOVER = ("node %{customdata[0]} (%{customdata[1]})<br>mode %{customdata[2]}<br>scale %{x}<br>"
         "effect %{y:.4f}<br>flipped %{customdata[3]} of %{customdata[4]} cells<br>%{customdata[5]}<extra></extra>")


def _kl_text(value: Any) -> str:
    """Hover line for the normalised KL: categorical tasks only."""
    return "" if _y(value) is None else f"normalised KL {value:.4f}"


def _modes(rows: list[EffectRow]) -> list[str]:
    present = {r["mode"] for r in rows}
    return [m for m in MODES if m in present]


def _nodes(rows: list[EffectRow]) -> list[str]:
    return sorted({r["node"] for r in rows}, key=lambda n: parse_node(n).sort_key())


def _series(rows: list[EffectRow], node: str, mode: str) -> list[EffectRow]:
    return sorted((r for r in rows if r["node"] == node and r["mode"] == mode), key=lambda r: r["scale"])


def _y(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _add_lines(fig, rows, mode: str, row: int | None = None, col: int | None = None, legend: bool = False) -> None:
    import plotly.graph_objects as go

    for node in _nodes(rows):
        pts = _series(rows, node, mode)
        if not pts:
            continue
        inside = pts[0]["status"] == "in_circuit"
        trace = go.Scatter(
            x=[p["scale"] for p in pts], y=[_y(p["effect"]) for p in pts], mode="lines+markers", name=node,
            line=dict(color=IN_COLOUR if inside else OUT_COLOUR), legendgroup="in" if inside else "out",
            showlegend=False,
            customdata=[[node, p["status"], mode, p["cells_flipped"], p["cells_counted"], _kl_text(p.get("kl_effect"))]
                        for p in pts],
            hovertemplate=HOVER,
        )
        fig.add_trace(trace, row=row, col=col) if row is not None else fig.add_trace(trace)
    if legend:
        for label, colour in (("in_circuit", IN_COLOUR), ("not_in_circuit", OUT_COLOUR)):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=dict(color=colour), name=label))


def _style(fig, height: int, width: int | None = None) -> None:
    fig.update_layout(template="plotly_white", height=height, width=width, margin=dict(l=70, r=30, t=60, b=60),
                      font=dict(size=13), legend=dict(orientation="h", y=-0.15))
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False, range=[-0.03, 1.03])


def effect_figure(rows: list[EffectRow], title: str):
    """All modes, one panel each (up to four per row)."""
    from plotly.subplots import make_subplots

    modes = _modes(rows)
    cols = min(4, len(modes))
    nrows = math.ceil(len(modes) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=modes, horizontal_spacing=0.06, vertical_spacing=0.14)
    for i, mode in enumerate(modes):
        _add_lines(fig, rows, mode, row=i // cols + 1, col=i % cols + 1, legend=(i == 0))
    _style(fig, height=330 * nrows + 80)
    fig.update_layout(title=title)
    fig.update_xaxes(title_text="scale")
    fig.update_yaxes(title_text="causal effect", col=1)
    return fig


def mode_figure(rows: list[EffectRow], mode: str, title: str):
    """One mode, as the notebook drew it (1000 x 400)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    _add_lines(fig, rows, mode, legend=True)
    _style(fig, height=400, width=1000)
    fig.update_layout(title=title, xaxis_title="Scale", yaxis_title="Causal Effect")
    return fig


def heatmap_figure(rows: list[EffectRow], title: str):
    """Node x scale effect, one heatmap per mode."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    modes = _modes(rows)
    nodes = _nodes(rows)
    cols = min(4, len(modes))
    nrows = math.ceil(len(modes) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=modes, horizontal_spacing=0.07, vertical_spacing=0.14)
    for i, mode in enumerate(modes):
        scales = sorted({r["scale"] for r in rows if r["mode"] == mode})
        grid = {(r["node"], r["scale"]): r for r in rows if r["mode"] == mode}
        z, text = [], []
        for node in nodes:
            z.append([_y(grid[(node, s)]["effect"]) if (node, s) in grid else None for s in scales])
            text.append([f"{grid[(node, s)]['cells_flipped']} of {grid[(node, s)]['cells_counted']}" if (node, s) in grid else ""
                         for s in scales])
        labels = [f"{n}{' *' if any(r['node'] == n and r['status'] == 'in_circuit' for r in rows) else ''}" for n in nodes]
        fig.add_trace(go.Heatmap(
            z=z, x=[str(s) for s in scales], y=labels, zmin=0, zmax=1, colorscale="Viridis", showscale=(i == 0),
            text=text, hovertemplate="node %{y}<br>mode " + mode + "<br>scale %{x}<br>effect %{z:.4f}<br>flipped %{text} cells<extra></extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(template="plotly_white", title=title + " (* = in circuit)", height=300 * nrows + 80,
                      margin=dict(l=70, r=30, t=60, b=40), font=dict(size=12))
    return fig
