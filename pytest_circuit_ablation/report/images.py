"""Static PNG and/or PDF of the notebook's figure (effect against scale, one mode, 1000 x 400, node names in the
legend) through kaleido, which needs a Chrome or Chromium (Debian: ``apt-get install -y chromium``). Without
one the images are skipped with a single notice; the HTML page and the CSVs never depend on them.

Rendering is the report's slow part (about 0.6 s per image in one browser tab), so it uses one tab per
core, up to ``MAX_TABS`` (1.5x faster on 2 cores), and writes only the formats asked for
(``--ablation-images``, PNG by default)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..core.cases import case_sort_key
from . import figures
from .rows import Row

MAX_TABS = 4
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _tabs(figures: int) -> int:
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_TABS, cores, figures))


def render(rows: list[Row], marks: dict[str, float] | None = None,
           formats: tuple[str, ...] = ("png",)) -> tuple[dict[str, bytes], str | None]:
    """{relative file name: bytes} of every (task, model, mode) figure in each of ``formats`` ('png',
    'pdf'), or ({}, why not)."""
    browser = find_browser()
    if browser is None:
        return {}, "static images skipped: no Chrome/Chromium found (apt-get install -y chromium); HTML and CSV written"
    try:
        import kaleido
    except ImportError:
        return {}, "static images skipped: kaleido is not installed (pip install kaleido); HTML and CSV written"
    import os

    os.environ.setdefault("BROWSER_PATH", browser)
    effect = [r for r in rows if r["kind"] == "effect"]
    groups = sorted({(r["task"], r["model"], r["mode"]) for r in effect}, key=lambda k: (case_sort_key(k[0]), k[1], figures.MODES.index(k[2])))
    out: dict[str, bytes] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            jobs, paths = [], []
            for task, model, mode in groups:
                mine = [r for r in effect if r["task"] == task and r["model"] == model]
                fig = figures.mode_figure(mine, mode, f"case {task} / {model}: {mode}", marks)
                for ext in formats:
                    paths.append(Path(tmp) / f"case{task}-{model}-{mode}.{ext}")
                    jobs.append({"fig": fig, "path": str(paths[-1]), "opts": {"format": ext, "width": 1000, "height": 400}})
            # one browser for all of them, with a tab per core
            kaleido.write_fig_from_object_sync(jobs, kopts={"n": _tabs(len(jobs))})
            for path in paths:
                out[f"figures/{path.name}"] = path.read_bytes()
    except Exception as exc:  # a browser that will not start must not cost the HTML and CSV
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {}, f"static images skipped: kaleido failed ({first[:200]}); HTML and CSV written"
    return out, None
