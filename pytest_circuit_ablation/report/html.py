"""``index.html``: one self-contained, offline page (plotly.js embedded, no CDN): a banner, an overview
table, then per task and model the gate verdict (offenders linked to their rows), accuracy, the
effect-against-scale figure (one panel per mode), node x scale heatmaps, a node table at each gate
checkpoint (effect, interval, HL effect, holds or offends; a line where AUROC and verdict seem to
disagree), the separation table, the diagnosis table, and the run's settings, versions and timings.

The page records its own health for automated checks: ``#render-status`` gets ``data-rendered`` (how
many figures drew an SVG) and ``data-errors`` (JavaScript errors), which a headless browser can read.
"""
from __future__ import annotations

import html
import json
import shlex
from typing import Any

from ..suite.gate import CONTROL, GATED, percent, upheld, verdict_text
from ..suite.diagnosis import FLAGGED
from .terminal import counted, flagged_nodes, model_entries
from . import figures
from .baseline import uncompared_models
from .rows import Row, SeparationRow, checkpoint_verdict

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em;display:block;overflow-x:auto;max-width:100%}
table{background:linear-gradient(to left,#fff 30%,rgba(255,255,255,0)) right/40px 100% no-repeat local,
radial-gradient(farthest-side at 100% 50%,rgba(0,0,0,.25),rgba(0,0,0,0)) right/14px 100% no-repeat scroll}
td.why{min-width:26em} td.at{white-space:nowrap} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left}
.pass{color:#16794c;font-weight:600} .fail{color:#b3261e;font-weight:600} .muted{color:#777}
.banner{font-size:1.15em;padding:8px 12px;border-radius:4px} .banner.ok{background:#e6f4ea;color:#16794c} .banner.fail{background:#fce8e6;color:#b3261e}
.figure{margin:8px 0} pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:.85em}
"""

_BOOT = """
window.__ablationErrors = [];
window.addEventListener('error', function (e) { window.__ablationErrors.push(String(e.message)); });
"""

_RENDER = """
(function () {
  var status = document.getElementById('render-status');
  // on a narrow window the evenly spread scale labels would collide: keep every other one
  function fit(f) {
    var layout = f.spec.layout, narrow = document.getElementById(f.id).clientWidth < 1100;
    Object.keys(layout).forEach(function (k) {
      var ax = layout[k];
      if (narrow && /^xaxis[0-9]*$/.test(k) && ax.ticktext && ax.ticktext.length > 6) {
        ax.ticktext = ax.ticktext.map(function (t, i) { return i % 2 ? '' : t; });
      }
    });
    return layout;
  }
  var jobs = window.__figures.map(function (f) {
    return Plotly.newPlot(f.id, f.spec.data, fit(f), {responsive: true, displaylogo: false});
  });
  function done() {
    var drawn = window.__figures.filter(function (f) {
      return document.getElementById(f.id).querySelector('svg.main-svg') !== null;
    }).length;
    status.setAttribute('data-rendered', String(drawn));
    status.setAttribute('data-errors', window.__ablationErrors.join(' | '));
    status.textContent = drawn + ' of ' + window.__figures.length + ' figures rendered';
  }
  Promise.all(jobs).then(done, function (err) { window.__ablationErrors.push(String(err)); done(); });
})();
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    """A number as the page shows it: never "0.000" for a value that is not zero (a Wilson upper bound of
    0.0003 read as 0, beside "offender"), never "-0.000"."""
    if value is None or (isinstance(value, float) and value != value):
        return "<span class=muted>n/a</span>"
    text = fmt.format(value)
    if isinstance(value, float) and fmt.endswith(".3f}") and float(text) == 0.0:
        if value:  # two significant digits, its sign kept (a margin of -0.0001 is a negative margin)
            return f"{value:+.2g}" if fmt.startswith("{:+") else f"{value:.2g}"
        return fmt.format(0.0)  # -0.0
    return text


def _verdict_html(role: str, gate_row: dict[str, Any]) -> str:
    word = checkpoint_verdict(gate_row)
    return f"<span class={'pass' if upheld(role, word) else 'fail'}>{_esc(verdict_text(role, word))}</span>"


def _separation_table(rows: list[SeparationRow]) -> str:
    modes = [m for m in figures.MODES if any(r["mode"] == m for r in rows)]
    scales = sorted({r["scale"] for r in rows})
    grid = {(r["mode"], r["scale"]): r for r in rows}
    head = "".join(f"<th>{_esc(s)}</th>" for s in scales)
    body = []
    for mode in modes:
        cells = []
        for s in scales:
            r = grid.get((mode, s))
            if r is None:
                cells.append("<td></td>")
                continue
            mark = " style='outline:2px solid #333'" if r.get("gate_role") in ("gate", "control") else ""
            cells.append(f"<td{mark} title='AUROC / margin'>{_num(r.get('auroc'))} / {_num(r.get('margin'), '{:+.3f}')}</td>")
        body.append(f"<tr><th class=l>{_esc(mode)}</th>{''.join(cells)}</tr>")
    return (f"<table><tr><th class=l>AUROC / margin</th>{head}</tr>{''.join(body)}</table>"
            "<p class=muted>outlined: a gate checkpoint (the other settings are measured only)</p>")


def _training_html(record: dict[str, Any]) -> str:
    """One line from meta.json's training record, when the model has one (this project's trainer)."""
    if not record:
        return ""
    parts = [f"{name} {_num(record[key], '{:.2%}')}" for key, name in
             (("accuracy", "accuracy"), ("iia", "IIA"), ("strict_accuracy", "strict accuracy")) if key in record]
    if "steps" in record:
        parts.append(f"{_num(record['steps'], '{:.0f}')} steps")
    if "seconds" in record:
        parts.append(f"{_num(record['seconds'], '{:.0f}')} s")
    # every part is a fixed name and a formatted number (or _num's own n/a markup): nothing to escape
    return f"<p class=muted>training record (meta.json, held-out pairs): {', '.join(parts)}</p>"


def _key() -> str:
    """The page's words, once, folded: what each term, mode and verdict means."""
    from ..core.modes import MEANING as MODES_MEANING
    from ..suite.diagnosis import MEANING as VERDICTS_MEANING

    terms = [
        ("LL / HL model", "the trained transformer (low level), and the compiled program whose circuit is known "
                          "(high level)"),
        ("cells", "(base input, source input, position) triples; counted where the HL model's outputs on the two "
                  "inputs differ, flipped where the ablation made the LL output disagree with the HL one"),
        ("effect", "the share of counted cells where the ablated LL model's output no longer agrees with the HL "
                   "model's on the base input; 95% interval: Wilson's"),
        ("scale", "lam, how much of the replacement is put in (see the modes)"),
        ("HL effect", "the same measure for the node's HL counterpart, interchanged in the HL model: what a "
                      "perfect LL node scores"),
        ("checkpoint", "a (mode, scale) where the gate is asserted; every other setting is measured only"),
        ("AUROC / margin", "how well effect separates in-circuit from out-of-circuit nodes (1: every in-circuit "
                           "node above every other); margin: lowest in-circuit minus highest out-of-circuit effect"),
        ("IIA / strict accuracy", "training record: interchanges of circuit nodes give the HL model's answer / "
                                  "interchanges of other nodes leave the answer right"),
        ("spread / PCA explained", "how much a node's activation varies across inputs relative to its size / the "
                                   "share of that variation in the top-k PCA directions (PCA degenerate: nothing "
                                   "outside them)"),
    ]
    rows = [f"<tr><td class=l>{_esc(t)}</td><td class=l>{_esc(d)}</td></tr>" for t, d in terms]
    rows += [f"<tr><td class=l>mode {_esc(m)}</td><td class=l>{_esc(d)}</td></tr>" for m, d in MODES_MEANING.items()]
    rows += [f"<tr><td class=l>verdict {_esc(v)}</td><td class=l>{_esc(d)}</td></tr>" for v, d in VERDICTS_MEANING.items()]
    return f"<details id='key'><summary>how to read this page</summary><table>{''.join(rows)}</table></details>"


def _accuracy(value: Any, meta: dict[str, Any]) -> str:
    """A model's accuracy, with the decimals that keep one below the run's min_accuracy from reading as it."""
    limit = (meta.get("settings") or {}).get("min_accuracy")
    if not isinstance(value, float) or value != value:
        return _num(value, "{:.2%}")
    return percent(value, limit if isinstance(limit, (int, float)) else None)


def _flag(value: Any) -> str:
    """A true/false/missing cell as the CSV writes it."""
    return "" if value is None else ("true" if value else "false")


def gate_marks(meta: dict[str, Any]) -> dict[str, Any]:
    """The gate's settings from the run's metadata, for the figures: the thresholds (tau lines), the rule
    and hl_tol (each in-circuit node's HL reference and its band)."""
    settings = meta.get("settings") or {}
    marks: dict[str, Any] = {k: settings[k] for k in ("tau_in", "tau_out", "hl_tol") if isinstance(settings.get(k), (int, float))}
    if settings.get("gate_rule") in ("hl", "absolute"):
        marks["gate_rule"] = settings["gate_rule"]
    return marks


def _offender_names(gate_row: dict[str, Any]) -> set[str]:
    """Node names in a separation row's ``offenders`` ("L0H3=0.176[upper=0.181] L1MLP=0.918[HL=1.000]")."""
    return {part.split("=", 1)[0] for part in (gate_row.get("offenders") or "").split()}


def _node_table(anchor: str, effects: list[Row], gate_row: dict[str, Any], role: str) -> str:
    """Every node at one checkpoint: effect, Wilson interval, the HL node's own effect, and whether it
    holds its side of the gate; offenders get an anchor the model's line links to (a negative control's
    are what it is for: not marked as failures)."""
    off = _offender_names(gate_row)
    offender = "<span class=fail>offender</span>" if role == GATED else "<span class=muted>offender (expected of a control)</span>"
    head = ("<tr><th class=l>node</th><th class=l>status</th><th>effect</th><th>95% interval</th><th>HL effect</th>"
            "<th>cells flipped / counted</th><th class=l>gate</th></tr>")
    body = []
    for r in effects:
        bad = r["node"] in off
        where = f" id='{anchor}-{_esc(gate_row['mode'])}-{_esc(gate_row['scale'])}-{_esc(r['node'])}'" if bad else ""
        body.append(f"<tr{where}><td class=l>{_esc(r['node'])}</td><td class=l>{_esc(r.get('status', ''))}</td>"
                    f"<td>{_num(r.get('effect'))}</td><td>[{_num(r.get('ci_low'))}, {_num(r.get('ci_high'))}]</td>"
                    f"<td>{_num(r.get('hl_effect'))}</td><td>{_esc(r.get('cells_flipped', ''))} / {_esc(r.get('cells_counted', ''))}</td>"
                    f"<td class=l>{offender if bad else '<span class=pass>holds</span>'}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _auroc_note(gate_row: dict[str, Any], role: str) -> str:
    """One line where the AUROC and the verdict seem to disagree."""
    auroc, ok = gate_row.get("auroc"), gate_row.get("outcome") == "passed"
    if not isinstance(auroc, float):
        return ""
    if auroc >= 1.0 and not ok:
        return ("<p class=muted>AUROC 1.000 with this verdict: AUROC only says every in-circuit node ranks above every "
                "out-of-circuit one; the gate also needs each out-of-circuit node under tau_out and each in-circuit node "
                "at its HL node's effect, and the offenders above miss that.</p>")
    if auroc < 1.0 and ok:
        return ("<p class=muted>AUROC below 1 with a pass: the gate holds in-circuit nodes to their HL node's own effect, "
                "which can be low (an HL variable that rarely changes the output), so such a node may rank below an "
                "out-of-circuit one and still be right.</p>")
    return ""


def _drift_table(rows: list[Row], baseline: dict[str, Any] | None) -> str:
    """With --ablation-baseline: which baseline, every item that drifted or is new, largest move first."""
    moved = [r for r in rows if r.get("baseline") in ("drift", "absent")]
    if not any(r.get("baseline") for r in rows):
        return ""
    which = (f"Compared with {_esc(baseline.get('file'))} (tolerance {_esc(baseline.get('tol'))}): "
             if isinstance(baseline, dict) else "")
    within = sum(r.get("baseline") == "ok" for r in rows)
    uncompared = uncompared_models(rows)
    none_matched = (f"<p class=fail>Compared with nothing: no item of {_esc(', '.join(uncompared))} is in the baseline (a "
                    "new model, a models folder of another name, a baseline of other models?); the run failed.</p>"
                    if uncompared else "")
    moved.sort(key=lambda r: (r["baseline"] != "drift", -abs((r.get("effect") or 0.0) - (r.get("baseline_effect") or 0.0))))
    body = "".join(f"<tr><td class=l>{_esc(r['item'])}</td><td class=l>{_esc(r['baseline'])}</td>"
                   f"<td>{_num(r.get('baseline_effect'))}</td><td>{_num(r.get('effect'))}</td></tr>" for r in moved)
    drifted = sum(r["baseline"] == "drift" for r in moved)
    return (f"<h2 id='baseline'>Baseline</h2><p>{which}{counted(drifted, 'item')} drifted beyond the tolerance, "
            f"{counted(len(moved) - drifted, 'item')} not in the baseline, {counted(within, 'item')} within it.</p>{none_matched}"
            + (f"<table><tr><th class=l>item</th><th class=l>baseline</th><th>baseline effect</th><th>effect</th></tr>{body}</table>"
               if moved else ""))


TIMING_NOTE = ("wall seconds of each model's evaluation, on the worker that ran it: loading it and its HL model, "
               "the PCA fits, the LL sweep over every node, mode and scale, the HL reference and the diagnosis' statistics (not "
               "pytest's own time per item, nor the report's). They follow the host's load and speed: a timing, "
               "not a result.")


def _provenance_table(meta: dict[str, Any]) -> str:
    """How the run was started and what it read (a merged report: each folder's run, listed under
    'merged from'); a reader's record, which a merge never compares."""
    runs = [meta["provenance"]] if isinstance(meta.get("provenance"), dict) else \
        [m["provenance"] for m in meta.get("merged_from") or [] if isinstance(m.get("provenance"), dict)]
    if not runs:
        return ""
    rows = []
    for i, p in enumerate(runs):
        at = f" (run {i + 1})" if len(runs) > 1 else ""
        command = " ".join(shlex.quote(str(a)) for a in p.get("command") or [])
        rows += [(f"command{at}", command), (f"in{at}", p.get("invocation_dir")), (f"cases from{at}", p.get("cases_dir")),
                 (f"models from{at}", p.get("models_dir")), (f"host{at}", p.get("host")), (f"finished{at}", p.get("finished"))]
    body = "".join(f"<tr><th class=l>{_esc(k)}</th><td class=l><code>{_esc(v)}</code></td></tr>" for k, v in rows if v)
    return f"<table id='provenance'>{body}</table>"


def _settings_table(meta: dict[str, Any]) -> str:
    """The run's settings, versions and timings as small tables; the full metadata stays below, folded."""
    settings = meta.get("settings") or {}
    rows = [(k, ", ".join(map(str, v)) if isinstance(v, list) and not any(isinstance(x, list) for x in v)
             else "; ".join(" x ".join(map(str, x)) for x in v) if isinstance(v, list) else v) for k, v in sorted(settings.items())]
    rows += [(f"version: {k}", v) for k, v in sorted((meta.get("versions") or {}).items()) if v]
    rows += [("python", meta.get("python")), ("items", meta.get("items")), ("seconds (run)", meta.get("seconds_total")),
             ("static images", meta.get("static_images")), ("shard", meta.get("shard"))]
    if meta.get("merged_from"):
        rows.append(("merged from", "; ".join(f"{m['folder']}" + (f" (shard {m['shard']})" if m.get("shard") else "")
                                             for m in meta["merged_from"])))
    times = sorted(((k, m.get("seconds")) for k, m in (meta.get("models") or {}).items() if m.get("seconds") is not None),
                   key=lambda kv: -kv[1])
    table = "".join(f"<tr><th class=l>{_esc(k)}</th><td class=l>{_esc(v)}</td></tr>" for k, v in rows if v is not None)
    timing = "".join(f"<tr><td class=l>{_esc(k)}</td><td>{v:.1f}</td></tr>" for k, v in times)
    return (f"<table id='settings'>{table}</table>" + _provenance_table(meta)
            + (f"<h3>Seconds per model</h3><p class=muted>{TIMING_NOTE}</p>"
               f"<table id='timings'><tr><th class=l>model</th><th>seconds</th></tr>{timing}</table>" if timing else ""))


def _diagnosis_table(rows: list[Row], role: str) -> str:
    """Every node's diagnosis: verdict, the numbers behind it, and why. A negative control's flagged nodes
    are what it is for, so only a gated model's are marked."""
    head = ("<tr><th class=l>node</th><th class=l>status</th><th class=l>verdict</th><th>checkpoint effect</th>"
            "<th>strongest other effect</th><th class=l>at</th><th>spread</th><th>PCA explained</th>"
            "<th class=l>PCA degenerate</th><th class=l>why</th></tr>")
    body = []
    for r in rows:
        cls = "fail" if r.get("verdict") in FLAGGED and role == GATED else "muted"
        body.append(f"<tr id='diag-case{_esc(r['task'])}-{_esc(r['model'])}-{_esc(r['node'])}'><td class=l>{_esc(r['node'])}</td>"
                    f"<td class=l>{_esc(r.get('status', ''))}</td><td class=l><span class={cls}>{_esc(r.get('verdict', ''))}</span></td>"
                    f"<td>{_num(r.get('checkpoint_effect'))}</td><td>{_num(r.get('moved_effect'))}</td>"
                    f"<td class='l at'>{_esc(r.get('moved_by', ''))}</td><td>{_num(r.get('spread'))}</td>"
                    f"<td>{_num(r.get('explained'))}</td><td class=l>{_flag(r.get('pca_degenerate'))}</td>"
                    f"<td class='l why'>{_esc(r.get('reason', ''))}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _banner(entries: dict, flagged: list[Row] | None = None) -> str:
    """One line a reader sees first: how many gated models passed and controls were rejected, with the
    models that did not get the verdict their role asks for linked."""
    groups: dict[str, list[tuple[str, str | None]]] = {GATED: [], CONTROL: []}
    for (task, model), entry in entries.items():
        groups.setdefault(entry["role"], []).append((f"case{task}-{model}", _why_not_as_expected(entry)))
    parts, bad = [], []
    for role, label in ((GATED, "gated models passed"), (CONTROL, "negative controls rejected")):
        got = groups.get(role, [])
        if got:
            parts.append(f"{sum(why is None for _, why in got)} of {len(got)} {label}")
            bad += [(name, why) for name, why in got if why is not None]
    cls = "ok" if not bad else "fail"
    links = "" if not bad else "; not as expected: " + ", ".join(
        f"<a href='#{n}'>{_esc(n)}</a> ({_esc(why)})" for n, why in bad)
    if flagged is not None:
        names = [f"case{r['task']}-{r['model']}-{r['node']}" for r in flagged]
        links += f"; {counted(len(names), 'node')} of gated models flagged by the diagnosis" + (": " if names else "") + ", ".join(
            f"<a href='#diag-{_esc(n)}'>{_esc(n)}</a>" for n in names)
    return f"<p class='banner {cls}' id='banner'>{'; '.join(parts)}{links}</p>"


def _why_not_as_expected(entry: dict[str, Any]) -> str | None:
    """Why a model did not get the verdict its role asks for, in a few words (None when it did)."""
    if "refused" in entry:
        return entry["refused_as"]
    if not entry["gates"]:
        return "no checkpoint ran"
    for g in entry["gates"]:
        word = checkpoint_verdict(g)
        if not upheld(entry["role"], word):
            offenders = (g.get("offenders") or "").split()
            return f"{word} at {g['mode']} x {g['scale']}" + (f": {counted(len(offenders), 'offender')}" if offenders else "")
    return None


def _part_of_what(meta: dict[str, Any]) -> str:
    """A shard's page says it covers only its share; a merged page says what it was merged from."""
    if meta.get("shard"):
        planned = meta.get("planned_models")
        of = f" ({len(meta.get('models') or {})} of the {len(planned)} planned models)" if isinstance(planned, (list, dict)) else ""
        return (f"<p class=muted>Shard {_esc(meta['shard'])} of a run{of}: <code>circuit-ablation-report merge</code> "
                "joins the shards' folders into the whole run's report.</p>")
    planned, models = meta.get("planned_models"), meta.get("models") or {}
    if isinstance(planned, (list, dict)) and len(models) < len(planned) and not meta.get("merged_from"):
        left = [k for k in planned if k not in models]
        return (f"<p class=fail>This run covers {len(models)} of the {len(planned)} planned models (a selection such "
                f"as -k); not run: {_esc(', '.join(left[:5]))}{' and more' if len(left) > 5 else ''}.</p>")
    if meta.get("merged_from"):
        return f"<p class=muted>Merged from {counted(len(meta['merged_from']), 'report folder')} (listed under Run).</p>"
    return ""


def build_page(rows: list[Row], meta: dict[str, Any]) -> str:
    """The whole page as a string."""
    from plotly.offline import get_plotlyjs

    entries = model_entries(rows)
    marks = gate_marks(meta)
    effect_rows = [r for r in rows if r["kind"] == "effect"]
    sep_rows = [r for r in rows if r["kind"] == "separation"]
    diag_rows = [r for r in rows if r["kind"] == "diagnosis"]
    specs: list[dict[str, Any]] = []
    overview, sections = [], []
    for (task, model), entry in entries.items():
        anchor = f"case{task}-{model}"
        gates = entry["gates"]
        if "refused" in entry:
            overview.append(f"<tr><td class=l><a href='#{anchor}'>case {task}</a></td><td class=l>{_esc(model)}</td>"
                            f"<td class=l>{_esc(entry['role'])}</td><td class=l colspan=6><span class=fail>{entry['refused_as']}</span> "
                            f"{_esc(entry['refused'])}</td></tr>")
            sections.append(f"<h2 id='{anchor}'>case {task} / {_esc(model)}</h2><p class=fail>{entry['refused_as']}: {_esc(entry['refused'])}</p>")
            continue
        acc = entry.get("accuracy")
        for g in gates or [{}]:
            overview.append(
                f"<tr><td class=l><a href='#{anchor}'>case {task}</a></td><td class=l>{_esc(model)}</td>"
                f"<td class=l>{_esc(entry['role'])}</td><td class=l>{_verdict_html(entry['role'], g) if g else ''}</td>"
                f"<td>{_accuracy(acc, meta)}</td><td class=l>{_esc(g.get('mode', ''))} x {_esc(g.get('scale', ''))}</td>"
                f"<td>{_num(g.get('auroc'))}</td><td>{_num(g.get('margin'), '{:+.3f}')}</td>"
                f"<td class=l>{_esc(g.get('offenders', ''))}</td></tr>")
        mine = [r for r in effect_rows if r["task"] == task and r["model"] == model]
        seps = [r for r in sep_rows if r["task"] == task and r["model"] == model]
        title = f"case {task} / {model}"
        parts = [f"<h2 id='{anchor}'>{_esc(title)}</h2>",
                 f"<p>role: {_esc(entry['role'])}; accuracy against the HL model on this run's inputs {_accuracy(acc, meta)}; "
                 + "; ".join(f"gate at {_esc(g['mode'])} x {_esc(g['scale'])}: {_verdict_html(entry['role'], g)}"
                             + (" (offenders: " + ", ".join(
                                 f"<a href='#{anchor}-{_esc(g['mode'])}-{_esc(g['scale'])}-{_esc(o.split('=', 1)[0])}'>{_esc(o)}</a>"
                                 for o in g["offenders"].split()) + ")" if g.get("offenders") else "") for g in gates)
                 + "</p>" + _training_html(entry.get("training", {}))]
        if mine:
            for kind, fig in (("effect", figures.effect_figure(mine, f"{title}: effect against scale", marks)),
                              ("heatmap", figures.heatmap_figure(mine, f"{title}: node x scale"))):
                fid = f"fig-{anchor}-{kind}"
                specs.append({"id": fid, "spec": json.loads(fig.to_json())})
                parts.append(f"<div class=figure id='{fid}'></div>")
        for g in gates:
            at = [r for r in mine if r["mode"] == g["mode"] and r["scale"] == g["scale"]]
            if at:
                parts.append(f"<h3>Nodes at the checkpoint {_esc(g['mode'])} x {_esc(g['scale'])}</h3>"
                             + _node_table(anchor, at, g, entry["role"]) + _auroc_note(g, entry["role"]))
        if seps:
            parts.append("<h3>Separation</h3>" + _separation_table(seps))
        diag = [r for r in diag_rows if r["task"] == task and r["model"] == model]
        if diag:
            parts.append("<h3>Diagnosis</h3>" + _diagnosis_table(diag, entry["role"]))
        sections.append("\n".join(parts))
    head = ("<tr><th class=l>task</th><th class=l>model</th><th class=l>role</th><th class=l>verdict</th><th>accuracy</th>"
            "<th class=l>checkpoint</th><th>AUROC</th><th>margin</th><th class=l>offenders</th></tr>")
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>Circuit ablation report</title>",
        f"<style>{_CSS}</style><script>{_BOOT}</script>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        "<h1>Circuit ablation report</h1>",
        _banner(entries, flagged_nodes(rows) if diag_rows else None),
        _part_of_what(meta),
        f"<p>gate: {_esc(meta.get('gate', ''))}</p>",
        f"<table>{head}{''.join(overview)}</table>",
        _key(),
        *sections,
        _drift_table(effect_rows, meta.get("baseline")),
        "<h2>Run</h2>" + _settings_table(meta),
        "<details><summary>all metadata (ablation.json)</summary><pre>" + _esc(json.dumps(meta, indent=1, sort_keys=True))
        + "</pre></details>",
        "<p id='render-status' data-rendered='0' data-errors='' class=muted>rendering...</p>",
        "<script>window.__figures = " + json.dumps(specs).replace("</", "<\\/") + ";</script>",
        f"<script>{_RENDER}</script></body></html>",
    ])
