"""The report's figures are plain plotly JSON written without plotly.py's validation, so plotly.py
checks each kind here: every property must be one it accepts, every trace must sit on an axis the
layout defines, and the content must be the rows'."""
import json
import math

import plotly.graph_objects as go
import pytest

from pytest_circuit_ablation.report import figures, images
from tests.plugin.browser import CHROMIUM, needs_chromium

NODES = {"L0H0": "in_circuit", "L0MLP": "not_in_circuit", "L1H2": "not_in_circuit"}
MODES = ("resample", "mean", "zero", "pca-self-var", "pca-self-orth")  # five: two rows of panels
SCALES = (0.0, 0.5, 1.0, 10.0)


def _rows(effect_nan_at=None):
    rows = []
    for n, (node, status) in enumerate(NODES.items()):
        for mode in MODES:
            for s in SCALES:
                effect = math.nan if (node, mode, s) == effect_nan_at else round((n + 1) * (s + 1) % 7 / 7, 4)
                rows.append(dict(node=node, status=status, mode=mode, scale=s, effect=effect,
                                 ci_low=max(0.0, effect - 0.01) if effect == effect else math.nan,
                                 ci_high=min(1.0, effect + 0.01) if effect == effect else math.nan,
                                 gate_role="gate" if s == 1.0 and mode == "resample" else "measured",
                                 cells_flipped=n * 10, cells_counted=900, kl_effect=0.5 if mode == "mean" else None))
    return rows


MARKS = {"tau_out": 0.1, "tau_in": 0.5}
KINDS = {
    "effect": lambda rows: figures.effect_figure(rows, "case 3 / siit", MARKS),
    "mode": lambda rows: figures.mode_figure(rows, "mean", "case 3 / siit: mean", MARKS),
    "heatmap": lambda rows: figures.heatmap_figure(rows, "case 3 / siit"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_plotly_accepts_every_figure_as_written(kind):
    spec = json.loads(KINDS[kind](_rows()).to_json())
    fig = go.Figure(spec)  # plotly.py validates every property; a misspelt one raises
    axes = {k for k in spec["layout"] if k.startswith(("xaxis", "yaxis"))}
    for trace in spec["data"]:
        assert trace["xaxis"].replace("x", "xaxis") in axes and trace["yaxis"].replace("y", "yaxis") in axes
    assert fig.layout.template.layout.paper_bgcolor  # the named template was resolved into the spec


def test_lines_carry_the_rows():
    spec = json.loads(figures.effect_figure(_rows(), "t", MARKS).to_json())
    assert len(spec["data"]) == len(NODES) * len(MODES)  # one line per node and mode
    panel = {t["xaxis"] for t in spec["data"] if t["name"] == "L0MLP"}
    assert panel == {"x", "x2", "x3", "x4", "x5"}  # each mode its own panel
    mean_mlp = next(t for t in spec["data"] if t["name"] == "L0MLP" and t["xaxis"] == "x2")
    assert mean_mlp["y"] == [r["effect"] for r in _rows() if r["node"] == "L0MLP" and r["mode"] == "mean"]
    assert mean_mlp["line"]["dash"] == "dash" and next(t for t in spec["data"] if t["name"] == "L0H0")["line"]["dash"] == "solid"
    assert spec["layout"]["title"]["text"].startswith("t<br>")
    tau = [s["y0"] for s in spec["layout"]["shapes"]]
    assert sorted(set(tau)) == [0.1, 0.5]


def test_titles_are_each_figures_own_though_layouts_are_shared():
    a = figures.mode_figure(_rows(), "mean", "first", MARKS)
    b = figures.mode_figure(_rows(), "mean", "second", MARKS)
    assert json.loads(a.to_json())["layout"]["title"]["text"] == "first"
    assert json.loads(b.to_json())["layout"]["title"]["text"] == "second"


def test_a_missing_effect_is_a_gap_not_invalid_json():
    spec = json.loads(figures.effect_figure(_rows(("L0H0", "resample", 0.5)), "t", MARKS).to_json())
    assert spec["data"][0]["y"][1] is None


def _many_nodes(n: int):
    return [dict(node=f"L{i // 4}H{i % 4}", status="in_circuit" if i == n - 1 else "not_in_circuit", mode="resample",
                 scale=s, effect=0.5, ci_low=0.4, ci_high=0.6, gate_role="measured", cells_flipped=1, cells_counted=2,
                 kl_effect=None) for i in range(n) for s in SCALES]


def test_a_static_figure_is_tall_enough_for_its_legend():
    small = figures.mode_figure(_rows(), "mean", "t", MARKS)
    big = figures.mode_figure(_many_nodes(20), "resample", "t", MARKS)
    assert small["layout"]["height"] == 400 and small["layout"]["width"] == 1000  # the notebook's size
    assert big["layout"]["height"] >= 150 + 19 * 20


@needs_chromium
def test_png_is_drawn_at_the_figures_own_height(tmp_path):
    import struct

    big = figures.mode_figure(_many_nodes(20), "resample", "t", MARKS)
    png = images.render_png(CHROMIUM, [big])[0]
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (1000, big["layout"]["height"])


def _with_hl(rows, missing_at_checkpoint=False):
    """The rows with an HL reference on the in-circuit node's resample points (as the engine records it)."""
    out = []
    for r in rows:
        r = dict(r)
        if r["status"] == "in_circuit" and r["mode"] == "resample":
            r["hl_effect"] = None if missing_at_checkpoint and r["gate_role"] == "gate" else 0.58 + r["scale"] / 100
        out.append(r)
    return out


def _tau_lines(spec):
    return sorted({s["y0"] for s in spec["layout"].get("shapes", [])})


def test_under_rule_hl_an_in_circuit_node_is_drawn_against_its_hl_reference_not_tau_in():
    marks = dict(MARKS, gate_rule="hl", hl_tol=0.05)
    spec = json.loads(figures.effect_figure(_with_hl(_rows()), "t", marks).to_json())
    assert _tau_lines(spec) == [0.1]  # tau_in judges nothing here: every in-circuit checkpoint has its HL effect
    hl = [t for t in spec["data"] if t["name"] == "L0H0 HL"]
    assert len(hl) == 1 and hl[0]["xaxis"] == "x"  # the resample panel only
    assert hl[0]["y"] == [0.58 + s / 100 for s in SCALES]
    assert hl[0]["error_y"]["array"] == [None, None, 0.05, None]  # the band at the checkpoint (resample x 1.0) only
    assert hl[0]["error_y"]["arrayminus"] == [None, None, 0.05, None]
    # a line without markers (their ticks at each scale read as stray error bars), the band a broad bar
    # without caps (a capped one read as a Wilson interval)
    assert hl[0]["mode"] == "lines" and "marker" not in hl[0] and hl[0]["error_y"]["width"] == 0
    assert "HL node" in spec["layout"]["title"]["text"]
    static = json.loads(figures.mode_figure(_with_hl(_rows()), "resample", "t", marks).to_json())
    assert [t["name"] for t in static["data"]].count("L0H0 HL") == 1 and _tau_lines(static) == [0.1]
    go.Figure(spec), go.Figure(static)  # plotly.py accepts the new traces


def test_the_gates_band_stops_at_one_and_its_tau_lines_are_drawn_on_its_checkpoints_panels_only():
    """The band ran up to 1.05, above any effect; the tau_out line was on every mode's panel, as if every
    mode's nodes were held to it."""
    rows = [dict(r, hl_effect=0.98) if r["status"] == "in_circuit" and r["mode"] == "resample" else r for r in _rows()]
    spec = json.loads(figures.effect_figure(rows, "t", dict(MARKS, gate_rule="hl", hl_tol=0.05)).to_json())
    band = next(t for t in spec["data"] if t["name"] == "L0H0 HL")["error_y"]
    assert band["array"][2] == pytest.approx(0.02) and band["arrayminus"][2] == 0.05
    assert {s["yref"] for s in spec["layout"]["shapes"]} == {"y"}  # resample, the checkpoint's mode: panel 1
    assert _tau_lines(json.loads(figures.mode_figure(rows, "mean", "t", MARKS).to_json())) == []


def test_tau_in_is_drawn_where_it_judges():
    absolute = json.loads(figures.effect_figure(_with_hl(_rows()), "t", dict(MARKS, gate_rule="absolute", hl_tol=0.05)).to_json())
    assert _tau_lines(absolute) == [0.1, 0.5]
    band = next(t for t in absolute["data"] if t["name"] == "L0H0 HL")["error_y"]
    assert band["visible"] is False  # the HL line is information, not the gate, under rule 'absolute'
    missing = json.loads(figures.effect_figure(_with_hl(_rows(), missing_at_checkpoint=True), "t",
                                               dict(MARKS, gate_rule="hl", hl_tol=0.05)).to_json())
    assert _tau_lines(missing) == [0.1, 0.5]  # an in-circuit checkpoint without an HL effect is judged by tau_in


def test_the_page_passes_the_gates_rule_to_its_figures():
    from pytest_circuit_ablation.report.html import gate_marks

    meta = {"settings": {"tau_in": 0.5, "tau_out": 0.1, "hl_tol": 0.05, "gate_rule": "absolute", "seed": 0}}
    assert gate_marks(meta) == {"tau_in": 0.5, "tau_out": 0.1, "hl_tol": 0.05, "gate_rule": "absolute"}


def test_a_heatmap_labels_every_node_of_a_large_model():
    spec = json.loads(figures.heatmap_figure(_many_nodes(20), "t").to_json())
    assert spec["layout"]["yaxis"]["dtick"] == 1  # plotly would otherwise label every other row
    assert spec["layout"]["height"] - 80 >= 16 * 20  # and each row has the height of its label
    assert len(spec["data"][0]["y"]) == 20


def test_the_caption_names_the_band_only_where_one_is_drawn():
    hl_rule = json.loads(figures.effect_figure(_with_hl(_rows()), "t", dict(MARKS, gate_rule="hl", hl_tol=0.05)).to_json())
    absolute = json.loads(figures.effect_figure(_with_hl(_rows()), "t", dict(MARKS, gate_rule="absolute", hl_tol=0.05)).to_json())
    assert "the gate's band" in hl_rule["layout"]["title"]["text"]
    assert "HL node's own effect" in absolute["layout"]["title"]["text"] and "band" not in absolute["layout"]["title"]["text"]


def test_sigterm_while_drawing_kills_the_browser_and_removes_its_folder(tmp_path):
    """A CI timeout's SIGTERM while Chromium draws: the browser is killed and its temporary folder removed,
    as on Ctrl-C (Python's default handler left both behind). A stand-in browser that only sleeps."""
    import os
    import signal
    import subprocess
    import sys
    import time

    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\necho $TMPDIR > {tmp_path / 'tmpdir'}\necho $$ > {tmp_path / 'pid'}\nexec sleep 60\n")
    browser.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = ("from pytest_circuit_ablation.report import figures, images\n"
            "images.render_png(%r, [figures.mode_figure(%r, 'mean', 't', None)])\n" % (str(browser), _rows()))
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(scratch)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file, child = tmp_path / "pid", None
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert "KeyboardInterrupt" in err
        assert list(scratch.iterdir()) == []
        # Chromium's own temporary folders (org.chromium.Chromium.*) were made in the one removed
        assert (tmp_path / "tmpdir").read_text().strip().startswith(str(scratch) + "/")
        try:
            os.kill(child, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive
    finally:  # nothing left running whatever failed above
        proc.kill()
        proc.wait()
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_nodes_with_equal_hl_references_share_one_named_line():
    """Two in-circuit nodes whose HL effects are equal at every scale drew two dotted lines on top of each
    other: only the last one's colour showed, and its hover named one node."""
    nodes = dict(NODES, L1MLP="in_circuit")
    rows = [dict(r, node=node, status=status) for node, status in nodes.items() for r in _rows() if r["node"] == "L0H0"]
    marks = dict(MARKS, gate_rule="hl", hl_tol=0.05)
    spec = json.loads(figures.effect_figure(_with_hl(rows), "t", marks).to_json())
    hl = [t for t in spec["data"] if t["name"].endswith(" HL")]
    assert [t["name"] for t in hl] == ["L0H0, L1MLP HL"]
    assert hl[0]["line"]["color"] == figures.HL_SHARED_COLOUR and "legendgroup" not in hl[0]
    assert hl[0]["customdata"][0][0] == "L0H0, L1MLP (each)" and "grey: equal for several nodes" in spec["layout"]["title"]["text"]
    # references that differ at one scale keep a line each, in each node's colour
    rows = [dict(r, hl_effect=0.3) if r["node"] == "L1MLP" and r["scale"] == 10.0 else r for r in _with_hl(rows)]
    spec = json.loads(figures.effect_figure(rows, "t", marks).to_json())
    hl = [t for t in spec["data"] if t["name"].endswith(" HL")]
    assert [t["name"] for t in hl] == ["L0H0 HL", "L1MLP HL"] and hl[1]["y"][-1] == 0.3
    assert figures.HL_SHARED_COLOUR not in {t["line"]["color"] for t in hl} and "grey" not in spec["layout"]["title"]["text"]
    go.Figure(spec)


def test_scales_that_print_alike_keep_their_own_labels():
    """0.3 and 0.30000000000000004 are two scales (two rows in the CSV) but both printed '0.3', and the
    heatmap's x axis of labels merged their columns."""
    scales = (0.0, 0.3, 0.30000000000000004, 1.0)
    rows = [dict(r, scale=scales[SCALES.index(r["scale"])]) for r in _rows()]
    heat = json.loads(figures.heatmap_figure(rows, "t").to_json())
    assert heat["data"][0]["x"] == ["0", "0.3", "0.30000000000000004", "1"]
    effect = json.loads(figures.effect_figure(rows, "t", MARKS).to_json())
    assert effect["layout"]["xaxis"]["ticktext"] == ["0", "0.3", "0.30000000000000004", "1"]


def test_the_hover_interval_shows_a_failing_bound_as_failing():
    """The hover printed Wilson bounds to three decimals: an upper bound of 0.1004 over tau_out 0.1 read
    0.100, and one of 0.00018 read 0.000, where the page's tables show the digits that matter."""
    rows = [dict(r, ci_low=0.0, ci_high=0.1004) if r["node"] == "L0MLP" else dict(r, ci_low=0.00002, ci_high=0.00018)
            for r in _rows()]
    spec = json.loads(figures.effect_figure(rows, "t", MARKS).to_json())
    hover = {t["name"]: t["customdata"][0][7] for t in spec["data"] if t["name"] in NODES}
    assert hover["L0MLP"] == "95% CI 0.000 to 0.1004"  # out of circuit, over tau_out 0.1
    assert hover["L1H2"] == "95% CI 2e-05 to 0.00018"
    static = json.loads(figures.mode_figure(rows, "resample", "t", MARKS).to_json())
    assert {t["name"]: t["customdata"][0][7] for t in static["data"]}["L0MLP"] == "95% CI 0.000 to 0.1004"


def test_a_hung_browser_is_given_up_on_after_a_deadline_that_grows_with_the_figures(tmp_path, monkeypatch):
    """A Chromium that hangs (common in containers) held the run for 600 s after every test had passed,
    whatever the number of figures; the deadline is now a start-up allowance plus a little per figure of
    the largest page, shared by all the pages."""
    import time

    browser = tmp_path / "browser"
    browser.write_text("#!/bin/sh\nexec sleep 60\n")
    browser.chmod(0o755)
    monkeypatch.setattr(images, "_tabs", lambda n: 2)
    monkeypatch.setattr(images, "DRAW_START_S", 1.0)
    monkeypatch.setattr(images, "DRAW_PER_FIGURE_S", 0.5)
    start = time.monotonic()
    with pytest.raises(images.ImageError, match="did not finish drawing within 2 s"):  # 1 + 0.5 x 2 figures a page
        images.render_png(str(browser), [figures.mode_figure(_rows(), "mean", "t", None)] * 4)
    assert time.monotonic() - start < 4
