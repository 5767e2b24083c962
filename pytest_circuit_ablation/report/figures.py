"""Plotly figures of one model's effects, built from report rows (no torch).

* ``effect_figure``: effect against scale (scales evenly spaced, labelled with their values), one
  labelled line per node, in circuit green and solid, out of circuit orange and dashed, Wilson
  intervals as error bars, gate checkpoints ringed, one panel per mode (the seed notebook's figure, all
  modes side by side). What each node is held to is drawn too: the tau lines, and in the resample panel
  each in-circuit node's HL reference (its HL node's own effect, a thin dotted line of its colour, grey where several are equal, with
  the gate's +-hl_tol band at the checkpoint). Under rule 'hl' an in-circuit node with an HL reference is
  judged against that, not tau_in, so tau_in is drawn only where some in-circuit node is judged by it;
* ``mode_figure``: the same for a single mode at the notebook's 1000 x 400, for static export;
* ``heatmap_figure``: node x scale heatmaps of the effect, one per mode.

Hovering a point names node, mode, scale, effect and the cell counts.

Figures are plain plotly JSON (``Figure``): each layout is built once with plotly.py (validated, template
resolved) and cached per shape, and the traces are written as dicts. Building every trace through
plotly.py's property validation took about 0.2 s a figure, most of the report's writing time (the
default run's 189 figures: about 25 s on the controller after the last test). tests/test_figures.py
checks that plotly.py accepts every figure as it is.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from ..core.modes import MODES
from ..core.nodes import parse_node
from ..suite.gate import shown
from .rows import EffectRow

IN_COLOUR, OUT_COLOUR = "green", "orange"  # the legend's group colours
LINE_KEY = "one line per node: solid green in circuit, dashed orange out of circuit; ringed: gate checkpoint; bars: Wilson 95%"
HL_KEY = "; thin dotted: the HL node's own effect"
SHARED_KEY = " (grey: equal for several nodes)"
BAND_KEY = ", its broad pale bar at the checkpoint the gate's band"
# one shade per node, so that lines of one group can be told apart (greens in circuit, oranges/browns out)
IN_SHADES = ("#1b7837", "#5aae61", "#00441b", "#7fbf7b", "#276419", "#4d9221", "#a6d96a", "#1a9850")
OUT_SHADES = ("#e66101", "#b35806", "#fdb863", "#8c510a", "#f1a340", "#d95f02", "#fc8d59", "#7f3b08", "#bf812d",
              "#dfc27d", "#f46d43", "#a6611a")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down", "pentagon", "hexagon")
HL_SHARED_COLOUR = "#555555"  # one HL line for several nodes with equal references
HL_HOVER = ("node %{customdata[0]}: its HL node's own effect<br>mode resample<br>scale %{customdata[1]}<br>"
            "HL effect %{y:.4f}<br>%{customdata[2]}<extra></extra>")
HOVER = ("node %{customdata[0]} (%{customdata[1]})<br>mode %{customdata[2]}<br>scale %{customdata[6]}<br>"
         "effect %{y:.4f} [%{customdata[7]}]<br>flipped %{customdata[3]} of %{customdata[4]} cells<br>%{customdata[5]}<extra></extra>")


class Figure(dict):
    """A plotly figure as plain JSON data, ``{"data": [...], "layout": {...}}``; what plotly.js draws."""

    def to_json(self) -> str:
        return json.dumps(self, separators=(",", ":"), allow_nan=False)


def _axes(panel: int) -> dict[str, str]:
    """The axis references of subplot ``panel`` (1-based, row-major, as ``make_subplots`` numbers them)."""
    return {"xaxis": "x", "yaxis": "y"} if panel == 1 else {"xaxis": f"x{panel}", "yaxis": f"y{panel}"}


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


def _scale_axis(rows: list[EffectRow]) -> list[float]:
    """Every scale present: the x axis spreads them evenly (0.1 and 10 would otherwise crowd 9 of 12
    scales into a fifth of the axis) and labels each with its value."""
    return sorted({r["scale"] for r in rows})


def _node_style(rows: list[EffectRow]) -> dict[str, tuple[bool, str, str]]:
    """node -> (in circuit, colour, marker symbol)."""
    style, n_in, n_out = {}, 0, 0
    for i, node in enumerate(_nodes(rows)):
        inside = any(r["node"] == node and r["status"] == "in_circuit" for r in rows)
        colour = IN_SHADES[n_in % len(IN_SHADES)] if inside else OUT_SHADES[n_out % len(OUT_SHADES)]
        n_in, n_out = n_in + inside, n_out + (not inside)
        style[node] = (inside, colour, SYMBOLS[i % len(SYMBOLS)])
    return style


def _bound(value: float) -> str:
    """Three decimals, but never "0.000" for a bound that is not zero."""
    text = f"{value:.3f}"
    return f"{value:.2g}" if value and float(text) == 0.0 else text


def _interval(p: EffectRow, tau_out: float | None = None) -> str:
    """The hover's Wilson interval; an out-of-circuit upper bound over ``tau_out`` with the digits that show
    it over (``shown``): 0.1004 read "0.100" beside a tau_out of 0.1 on a node the gate failed."""
    low, high = _y(p.get("ci_low")), _y(p.get("ci_high"))
    if low is None or high is None:
        return ""
    over = tau_out is not None and p.get("status") != "in_circuit" and high > tau_out
    return f"95% CI {_bound(low)} to {shown(high, tau_out, True) if over else _bound(high)}"


def _lines(rows, mode: str, panel: int = 1, legend: bool = False, tau_out: float | None = None) -> list[dict]:
    """One labelled line per node: in circuit solid, out of circuit dashed, each its own shade and
    marker; Wilson intervals as error bars; checkpoint points (where the gate is asserted) ringed."""
    axis = _scale_axis(rows)
    style = _node_style(rows)
    traces = []
    for node in _nodes(rows):
        pts = _series(rows, node, mode)
        if not pts:
            continue
        inside, colour, symbol = style[node]
        ys = [_y(p["effect"]) for p in pts]
        highs = [(_y(p.get("ci_high")) - y) if y is not None and _y(p.get("ci_high")) is not None else None for p, y in zip(pts, ys)]
        lows = [(y - _y(p.get("ci_low"))) if y is not None and _y(p.get("ci_low")) is not None else None for p, y in zip(pts, ys)]
        traces.append(dict(
            type="scatter", x=[axis.index(p["scale"]) for p in pts], y=ys, mode="lines+markers", name=node,
            line=dict(color=colour, dash="solid" if inside else "dash", width=2 if inside else 1.5),
            marker=dict(symbol=symbol, size=7, color=colour,
                        line=dict(width=[2.5 if p.get("gate_role") in ("gate", "control") else 0 for p in pts], color="black")),
            error_y=dict(type="data", array=highs, arrayminus=lows, thickness=1, width=2, color=colour),
            legendgroup=node, showlegend=legend,
            customdata=[[node, p["status"], mode, p["cells_flipped"], p["cells_counted"], _kl_text(p.get("kl_effect")),
                         p["scale"], _interval(p, tau_out)] for p in pts],
            hovertemplate=HOVER, **_axes(panel),
        ))
    return traces


def _hl_lines(rows, marks: dict[str, Any] | None, panel: int = 1) -> list[dict]:
    """Each in-circuit node's HL reference in the resample panel: the effect of interchanging its HL node in
    the HL model, which under rule 'hl' is what the node's own effect must match (within hl_tol, drawn as
    the bar at the checkpoint). Without these lines a reader sees an in-circuit node at 0.58 under a
    tau_in of 0.5 and cannot tell that it passes because its HL node's effect is 0.58 too. Nodes whose
    references are equal at every scale share one line, grey, named for all of them: drawn one per node,
    the last one's colour hid the others and its hover named one node only."""
    axis = _scale_axis(rows)
    style = _node_style(rows)
    judged = (marks or {}).get("gate_rule", "hl") == "hl"
    tol = (marks or {}).get("hl_tol")
    groups: dict[tuple, list[str]] = {}  # the series -> its nodes, in node order
    for node in _nodes(rows):
        pts = [p for p in _series(rows, node, "resample") if _y(p.get("hl_effect")) is not None]
        if pts and style[node][0]:
            band = [tol if judged and tol is not None and p.get("gate_role") in ("gate", "control") else None
                    for p in pts]
            key = tuple((p["scale"], p["hl_effect"], b) for p, b in zip(pts, band))
            groups.setdefault(key, []).append(node)
    traces = []
    for series, nodes in groups.items():
        scales, effects, band = zip(*series)
        colour = style[nodes[0]][1] if len(nodes) == 1 else HL_SHARED_COLOUR
        # the band as a broad translucent bar without caps, cut at 0 and 1: a capped bar read as a Wilson
        # interval; and no markers, whose ticks at each scale read as stray error bars
        up = [None if b is None else min(b, 1.0 - e) for e, b in zip(effects, band)]
        down = [None if b is None else min(b, e) for e, b in zip(effects, band)]
        named = ", ".join(nodes)
        traces.append(dict(
            type="scatter", x=[axis.index(x) for x in scales], y=list(effects),
            mode="lines", name=f"{named} HL", line=dict(color=colour, dash="dot", width=1.5),
            error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=7, width=0,
                         color=_translucent(colour), visible=any(b is not None for b in band)),
            showlegend=False, **({"legendgroup": nodes[0]} if len(nodes) == 1 else {}),
            customdata=[[named + (" (each)" if len(nodes) > 1 else ""), x,
                         (f"the gate: LL effect within {tol:g} of it here" if b is not None else "")]
                        for x, b in zip(scales, band)],
            hovertemplate=HL_HOVER, **_axes(panel),
        ))
    return traces


def scale_labels(scales) -> list[str]:
    """Each scale's label: short (``0.3``, ``10``), but never two alike for two scales (``0.3`` and
    ``0.30000000000000004``): a heatmap's x axis of text labels merged such columns into one."""
    short = [f"{s:g}" for s in scales]
    return [label if short.count(label) == 1 else repr(float(s)) for label, s in zip(short, scales)]


def _translucent(colour: str, alpha: float = 0.35) -> str:
    """``#rrggbb`` as an rgba() colour of that opacity (named colours stay opaque)."""
    if not (colour.startswith("#") and len(colour) == 7):
        return colour
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _hl_key(hl: list[dict]) -> str:
    """The caption's words for the HL lines, the band named only where one is drawn (rule 'hl')."""
    if not hl:
        return ""
    shared = SHARED_KEY if any(t["line"]["color"] == HL_SHARED_COLOUR for t in hl) else ""
    return HL_KEY + shared + (BAND_KEY if any(t["error_y"]["visible"] for t in hl) else "")


def _drawn_marks(rows: list[EffectRow], marks: dict[str, Any] | None) -> dict[str, float]:
    """The tau lines that judge something in this model: tau_out always; tau_in under rule 'absolute', or
    under rule 'hl' only when an in-circuit node at a checkpoint has no HL reference to be judged by."""
    drawn = {k: marks[k] for k in ("tau_out", "tau_in") if marks and marks.get(k) is not None}
    if "tau_in" in drawn and (marks or {}).get("gate_rule", "hl") == "hl":
        judged = [r for r in rows if r["status"] == "in_circuit" and r.get("gate_role") in ("gate", "control")]
        if all(_y(r.get("hl_effect")) is not None for r in judged):
            del drawn["tau_in"]
    return drawn


def _thresholds(fig, marks: dict[str, float] | None, panels: list[int]) -> None:
    """The gate's tau lines (out-of-circuit bound, and the in-circuit floor used without an HL reference),
    across each of ``panels`` (1-based subplot numbers), labelled at their top left. Set as one list of shapes
    and one of annotations: plotly's ``add_hline`` re-validates the whole layout on every call, which made
    these lines half of the report's writing time."""
    shapes, notes = [], []
    for name, dash in (("tau_out", "dot"), ("tau_in", "dashdot")):
        if not marks or marks.get(name) is None:
            continue
        for panel in panels:
            x, y = ("x", "y") if panel == 1 else (f"x{panel}", f"y{panel}")
            shapes.append(dict(type="line", xref=f"{x} domain", x0=0, x1=1, yref=y, y0=marks[name], y1=marks[name],
                               line=dict(color="grey", width=1, dash=dash)))
            notes.append(dict(text=f"{name} {marks[name]}", xref=f"{x} domain", x=0, yref=y, y=marks[name],
                              xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=10)))
    if shapes:
        fig.update_layout(shapes=list(fig.layout.shapes) + shapes, annotations=list(fig.layout.annotations) + notes)


def _style(fig, axis: tuple[float, ...], height: int, width: int | None = None) -> None:
    fig.update_layout(template="plotly_white", height=height, width=width, margin=dict(l=70, r=30, t=80, b=110),
                      font=dict(size=13),
                      # fixed-width entries and no title beside them, so on a narrow window the legend wraps
                      # into even rows inside the bottom margin instead of running off its right edge
                      legend=dict(orientation="h", x=0, y=-0.08, yanchor="top", entrywidth=72))
    fig.update_xaxes(showgrid=False, tickmode="array", tickvals=list(range(len(axis))), ticktext=scale_labels(axis),
                     tickangle=0)
    fig.update_yaxes(showgrid=False, range=[-0.05, 1.08])


def _marks_key(rows: list[EffectRow], marks: dict[str, Any] | None) -> tuple:
    return tuple(sorted(_drawn_marks(rows, marks).items()))


def _gated_modes(rows: list[EffectRow]) -> tuple[str, ...]:
    """The modes of the gate's checkpoints: only their panels hold the tau lines (a tau_out line on every
    panel read as if every mode's nodes were held to it)."""
    return tuple(sorted({r["mode"] for r in rows if r.get("gate_role") in ("gate", "control")}))


@lru_cache(maxsize=64)
def _effect_layout(modes: tuple[str, ...], axis: tuple[float, ...], marks: tuple, gated: tuple[str, ...]) -> dict:
    from plotly.subplots import make_subplots

    cols = min(4, len(modes))
    nrows = math.ceil(len(modes) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=modes, horizontal_spacing=0.06, vertical_spacing=0.16)
    _thresholds(fig, dict(marks), [i + 1 for i, mode in enumerate(modes) if mode in gated])
    _style(fig, axis, height=330 * nrows + 170)
    # up to four panels a row: 12 upright scale labels in a quarter of a 1400-pixel page ran into each other
    fig.update_xaxes(title_text="scale", tickangle=-60 if cols > 1 else 0, tickfont=dict(size=11))
    fig.update_yaxes(title_text="causal effect", col=1)
    return fig.to_plotly_json()["layout"]


def effect_figure(rows: list[EffectRow], title: str, marks: dict[str, Any] | None = None) -> Figure:
    """All modes, one panel each (up to four per row). ``marks``: the gate's settings (``gate_marks``):
    its thresholds, drawn as lines, and its rule and hl_tol, for the HL references."""
    modes = _modes(rows)
    tau_out = (marks or {}).get("tau_out")
    data = [t for i, mode in enumerate(modes) for t in _lines(rows, mode, panel=i + 1, legend=(i == 0), tau_out=tau_out)]
    hl = _hl_lines(rows, marks, panel=modes.index("resample") + 1) if "resample" in modes else []
    layout = dict(_effect_layout(tuple(modes), tuple(_scale_axis(rows)), _marks_key(rows, marks), _gated_modes(rows)))
    # the HL key on a line of its own: one line of both ran past the figure's edge on an 800-pixel page
    layout["title"] = {"text": f"{title}<br><sup>{LINE_KEY}</sup>" + (f"<br><sup>{_hl_key(hl)[2:]}</sup>" if hl else "")}
    if hl:  # from the top down (plotly centres a title's first line in the margin, and the rest ran into the panels)
        layout["title"].update(yref="container", y=1, yanchor="top", pad={"t": 20})
        layout["margin"] = {**layout["margin"], "t": layout["margin"]["t"] + 30}
    data += hl
    return Figure(data=data, layout=layout)


@lru_cache(maxsize=64)
def _mode_layout(axis: tuple[float, ...], marks: tuple, gated: bool) -> dict:
    import plotly.graph_objects as go

    fig = go.Figure()
    _thresholds(fig, dict(marks), [1] if gated else [])
    _style(fig, axis, height=400, width=1000)
    fig.update_layout(xaxis_title="Scale", yaxis_title="Causal Effect", margin=dict(r=150, b=50),
                      legend=dict(orientation="v", x=1.02, y=1, font=dict(size=10), tracegroupgap=0,
                                  title_text="node (dashed: out of circuit)"))
    return fig.to_plotly_json()["layout"]


LEGEND_ROW_PX = 19  # one legend entry of ``mode_figure`` (font 10, no group gap), with room to spare


def mode_figure(rows: list[EffectRow], mode: str, title: str, marks: dict[str, Any] | None = None) -> Figure:
    """One mode, as the notebook drew it (1000 x 400), with node names in the legend; taller where the
    legend needs it (a 20-node model's legend ran off a 400-pixel image, in-circuit nodes included)."""
    layout = dict(_mode_layout(tuple(_scale_axis(rows)), _marks_key(rows, marks), mode in _gated_modes(rows)))
    hl = _hl_lines(rows, marks) if mode == "resample" else []
    layout["title"] = {"text": f"{title}<br><sup>{_hl_key(hl)[2:]}</sup>" if hl else title}
    layout["height"] = max(400, 150 + LEGEND_ROW_PX * len(_nodes(rows)))
    return Figure(data=_lines(rows, mode, legend=True, tau_out=(marks or {}).get("tau_out")) + hl, layout=layout)


HEATMAP_NODE_PX = 16  # one node's row in a heatmap panel: room for its label at font 11


@lru_cache(maxsize=64)
def _heatmap_layout(modes: tuple[str, ...], n_nodes: int) -> dict:
    from plotly.subplots import make_subplots

    cols = min(4, len(modes))
    nrows = math.ceil(len(modes) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=modes, horizontal_spacing=0.07, vertical_spacing=0.14)
    panel = max(300, HEATMAP_NODE_PX * n_nodes + 90)
    fig.update_layout(template="plotly_white", height=panel * nrows + 80, margin=dict(l=70, r=30, t=60, b=40),
                      font=dict(size=12))
    fig.update_xaxes(title_text="scale", title_standoff=4)
    # every node labelled: plotly thins a crowded category axis to every other label (a 20-node model lost ten)
    fig.update_yaxes(tickmode="linear", dtick=1, tickfont=dict(size=11))
    fig.update_yaxes(title_text="node (* in circuit)", col=1)
    return fig.to_plotly_json()["layout"]


def heatmap_figure(rows: list[EffectRow], title: str) -> Figure:
    """Node x scale effect, one heatmap per mode."""
    modes = _modes(rows)
    nodes = _nodes(rows)
    data = []
    for i, mode in enumerate(modes):
        scales = sorted({r["scale"] for r in rows if r["mode"] == mode})
        grid = {(r["node"], r["scale"]): r for r in rows if r["mode"] == mode}
        z, text = [], []
        for node in nodes:
            z.append([_y(grid[(node, s)]["effect"]) if (node, s) in grid else None for s in scales])
            text.append([f"{grid[(node, s)]['cells_flipped']} of {grid[(node, s)]['cells_counted']}" if (node, s) in grid else ""
                         for s in scales])
        labels = [f"{n}{' *' if any(r['node'] == n and r['status'] == 'in_circuit' for r in rows) else ''}" for n in nodes]
        data.append(dict(
            type="heatmap", z=z, x=scale_labels(scales), y=labels, zmin=0, zmax=1, colorscale="Viridis",
            showscale=(i == 0), colorbar=dict(title=dict(text="effect", side="right")), text=text,
            hovertemplate="node %{y}<br>mode " + mode + "<br>scale %{x}<br>effect %{z:.4f}<br>flipped %{text} cells<extra></extra>",
            **_axes(i + 1),
        ))
    layout = dict(_heatmap_layout(tuple(modes), len(nodes)))
    layout["title"] = {"text": title + " (* = in circuit)"}
    return Figure(data=data, layout=layout)
