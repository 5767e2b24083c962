"""Figures inside a pytest-html report (``--html``), drawn offline.

pytest-html 4 builds each result's row in the browser and inserts an extra's HTML with
``insertAdjacentHTML``, which never runs a ``<script>`` in it (pytest-html issue #931): a figure written
by ``fig.to_html`` stays blank, and with ``include_plotlyjs="cdn"`` it would also need the internet. So
each gate item's extra is a ``div`` holding its figure as JSON, and the report's summary (rendered by
the server, so its scripts run) carries plotly.js once and a small script that draws every such ``div``
as pytest-html adds it to the page.
"""
from __future__ import annotations

import html
from typing import Any

FIGURE_CLASS = "circuit-ablation-figure"

_DRAW = """
(function () {
  function draw(root) {
    if (!root.querySelectorAll) return;
    var found = root.matches && root.matches('div.%(cls)s') ? [root] : root.querySelectorAll('div.%(cls)s');
    Array.prototype.forEach.call(found, function (div) {
      if (div.hasAttribute('data-drawn')) return;
      div.setAttribute('data-drawn', 'yes');
      try {
        var fig = JSON.parse(div.getAttribute('data-figure'));
        Plotly.newPlot(div, fig.data, fig.layout, {responsive: true});
      } catch (err) {
        div.setAttribute('data-drawn', 'error: ' + err);
        div.textContent = 'figure not drawn: ' + err;
      }
    });
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (c) { Array.prototype.forEach.call(c.addedNodes, draw); });
  }).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', function () { draw(document); });
})();
""" % {"cls": FIGURE_CLASS}


def figure_html(fig: Any) -> str:
    """One figure as an extra: its JSON in a ``div`` that the summary's script draws (no script, no CDN)."""
    return f"<div class='{FIGURE_CLASS}' data-figure=\"{html.escape(fig.to_json(), quote=True)}\"></div>"


def summary_scripts() -> str:
    """plotly.js, embedded once per report, and the script that draws the extras' figures."""
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script><script>{_DRAW}</script>"
