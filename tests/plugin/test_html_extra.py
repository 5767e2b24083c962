"""pytest-html (--html): each gate item's figure is drawn offline, with plotly.js embedded once."""
import os
import re

import pytest

from tests.plugin.browser import dump_dom, needs_chromium

if os.environ.get("CI"):
    import pytest_html  # noqa: F401  (the test extra installs it: under CI its absence is a failure)
else:
    pytest.importorskip("pytest_html")

NODES = {f"L{layer}H{head}" for layer in (0, 1) for head in range(4)} | {"L0MLP", "L1MLP"}


@pytest.fixture
def html_report(run_suite, pytester):
    result = run_suite("--html=h.html", "--self-contained-html")
    assert result.ret == 0
    return pytester.path / "h.html"


def test_figures_need_no_network_and_plotly_is_embedded_once(html_report):
    text = html_report.read_text()
    assert not re.search(r"<script[^>]+src=['\"]?https?:", text)  # nothing fetched from a CDN
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1  # plotly.js's own banner: one copy for the page
    assert text.count("circuit-ablation-figure") >= 3  # the three models' gate items (and the drawing script)


@needs_chromium
def test_every_gate_figure_is_drawn_with_its_node_labels(html_report, tmp_path):
    dom = dump_dom(html_report, tmp_path)
    figures = re.findall(r'<div class="circuit-ablation-figure[^"]*"[^>]*data-drawn="([^"]*)"(.*?)</div></div></div>',
                         dom, re.S)
    assert [drawn for drawn, _ in figures] == ["yes"] * 3, [d for d, _ in figures]
    for _, body in figures:
        assert NODES <= set(re.findall(r'<text class="legendtext"[^>]*>([^<]+)</text>', body))


def test_no_figure_work_without_html(run_suite, monkeypatch):
    """pytest-html's plugin is registered whenever it is installed; without --html no figure is built
    (a figure builder that fails shows where it is called: only with --html)."""
    from pytest_circuit_ablation.report import figures

    def refuse(*_, **__):
        raise RuntimeError("figure built")

    monkeypatch.setattr(figures, "effect_figure", refuse)
    without = run_suite("-rA")
    assert without.ret == 0 and "figure built" not in without.stdout.str()
    with_html = run_suite("-rA", "--html=h.html")
    assert with_html.ret == 0 and "figure not attached: figure built" in with_html.stdout.str()


def test_a_gate_figure_shows_what_the_gate_holds_each_node_to(html_report):
    """The extra's figure is the report page's: the gate's tau line, its checkpoint ringed, each in-circuit
    node's HL reference with the band (rule hl), not a bare plot of effects."""
    import html as html_mod
    import json

    text = html_report.read_text()
    # pytest-html keeps each result's extras as escaped text inside its own JSON: the figure is escaped twice
    found = re.search(r"data-figure=\\&#34;(.*?)\\&#34;", text)
    spec = json.loads(html_mod.unescape(html_mod.unescape(found.group(1))))
    assert [s["y0"] for s in spec["layout"]["shapes"]] and {s["y0"] for s in spec["layout"]["shapes"]} == {0.1}
    assert any(w for t in spec["data"] if "marker" in t and isinstance(t["marker"]["line"]["width"], list)
               for w in t["marker"]["line"]["width"])  # a ringed checkpoint
    assert any(t["name"].endswith(" HL") and t["error_y"]["visible"] for t in spec["data"])
