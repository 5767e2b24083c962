"""The HTML page in a real headless Chromium (every figure drawn, no JavaScript error), static images
with Chromium present, and a clear one-line notice without it."""
import json
import re
import struct

import pytest

from pytest_circuit_ablation.report import images
from tests.plugin.browser import dump_dom as _dump_dom, needs_chromium
from tests.plugin.conftest import read_csv


@needs_chromium
def test_page_renders_every_figure_without_errors_and_images_are_written(run_suite, pytester, tmp_path):
    result = run_suite("--ablation-report", "--ablation-images=all", "--ablation-modes=resample,pca-self-var", fast=False,
                       *("--ablation-tasks=3", "--ablation-scales=0.5,1.0", "--ablation-inputs=30"))
    assert result.ret == 0
    reports = pytester.path / "reports"
    dom = _dump_dom(reports / "index.html", tmp_path)
    status = dom.split('id="render-status"', 1)[1].split(">", 1)[0]
    assert 'data-rendered="6"' in status, status  # 3 models x (effect figure + heatmap)
    assert 'data-errors=""' in status, status
    assert "6 of 6 figures rendered" in dom
    _reads_as_a_reader_would(dom, reports)
    for model in ("siit", "iit", "natural"):
        for mode in ("resample", "pca-self-var"):
            png = (reports / "figures" / f"case3-{model}-{mode}.png").read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            assert struct.unpack(">II", png[16:24]) == (1000, 400)
            assert (reports / "figures" / f"case3-{model}-{mode}.pdf").read_bytes()[:5] == b"%PDF-"
    meta = json.loads((reports / "ablation.json").read_text())
    assert meta["static_images"] == "12 files under figures/"
    assert meta["settings"]["inputs"] == 30 and meta["models"]["case3-siit"]["hash"]
    # every setting a verdict depends on, so a merge refuses shards that differ in any (MUST_AGREE)
    assert {k: meta["settings"][k] for k in ("gate_rule", "hl_tol", "spread_max", "load_min", "require_irrelevant")} == {
        "gate_rule": "hl", "hl_tol": 0.05, "spread_max": 0.05, "load_min": 0.1, "require_irrelevant": False}
    assert meta["versions"]["torch"].startswith("2.13")


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)).strip()


def _reads_as_a_reader_would(dom: str, reports) -> None:
    """What a reader sees in the drawn page: the banner's counts, one legend label per node in each
    model's effect figure, and each checkpoint's node table marking exactly the separation's offenders."""
    banner = _text(re.search(r'<p class="banner[^"]*" id="banner">(.*?)</p>', dom, re.S).group(1))
    assert banner.startswith("1 of 1 gated models passed; 2 of 2 negative controls rejected"), banner
    separation = {r["model"]: r for r in read_csv(reports / "separation.csv") if r["gate_role"] != "measure"}
    nodes = sorted({r["node"] for r in read_csv(reports / "ablation.csv")})
    for model, gate in separation.items():
        figure = dom.split(f'id="fig-case3-{model}-effect"', 1)[1].split('id="fig-', 1)[0]
        labels = set(re.findall(r'<text class="legendtext"[^>]*>([^<]+)</text>', figure))
        assert set(nodes) <= labels, (model, labels)
        section = dom.split(f'<h2 id="case3-{model}">', 1)[1].split("<h2", 1)[0]
        table = section.split("Nodes at the checkpoint resample x 1.0</h3>", 1)[1].split("</table>", 1)[0]
        rows = {_text(r.split("</td>", 1)[0]): _text(r) for r in re.findall(r"<tr[^>]*>\s*<td.*?</tr>", table, re.S)}
        assert sorted(rows) == nodes
        offenders = {o.split("=")[0] for o in gate["offenders"].split()}
        assert {n for n, text in rows.items() if "offender" in text} == offenders
        assert (model == "siit") == (not offenders)  # the gated model passes; each control has offenders
        for node in offenders:
            assert f'id="case3-{model}-resample-1.0-{node}"' in table


@needs_chromium
@pytest.mark.parametrize("choice, suffixes", [("png", {".png"}), ("pdf", {".pdf"}), ("none", set())])
def test_images_option_writes_only_the_formats_asked_for(run_suite, pytester, choice, suffixes):
    result = run_suite("--ablation-report", f"--ablation-images={choice}", "--ablation-modes=resample",
                       "--ablation-tasks=3", "--ablation-scales=1.0", "--ablation-inputs=20")
    assert result.ret == 0
    figures = pytester.path / "reports" / "figures"
    written = sorted(p.name for p in figures.iterdir()) if figures.exists() else []
    assert written == sorted(f"case3-{m}-resample{s}" for m in ("iit", "natural", "siit") for s in suffixes)
    meta = json.loads((pytester.path / "reports" / "ablation.json").read_text())
    assert meta["static_images"] == (f"{len(written)} files under figures/" if suffixes else "none asked for (--ablation-images=none)")


def test_images_option_refuses_an_unknown_format(run_suite):
    result = run_suite("--ablation-report", "--ablation-images=svg")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-images: unknown choice 'svg' (choose none, png, pdf, all)"])


def test_without_chromium_the_report_is_still_written(run_suite, pytester, monkeypatch):
    monkeypatch.setattr(images, "find_browser", lambda: None)
    result = run_suite("--ablation-report")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["static images skipped: no Chrome/Chromium found (apt-get install -y chromium); HTML and CSV written"])
    reports = pytester.path / "reports"
    assert (reports / "index.html").stat().st_size > 1_000_000  # plotly.js is embedded: the page works offline
    assert "cdn" not in (reports / "index.html").read_text()[:2000].lower()
    assert not (reports / "figures").exists()


def test_page_has_the_tables_and_hover_details(run_suite, pytester, monkeypatch):
    monkeypatch.setattr(images, "find_browser", lambda: None)
    run_suite("--ablation-report")
    page = (pytester.path / "reports" / "index.html").read_text()
    for text in ("case 3 / siit", "AUROC / margin", "<span class=pass>REJECTED (as a negative control must be)</span>",
                 "<span class=pass>PASS</span>", "flipped %{customdata[3]} of %{customdata[4]} cells", "in_circuit",
                 "not_in_circuit"):
        assert text in page, text  # the verdicts as the page's own markup ("PASS" alone is in plotly.js)
    assert "<span class=fail>" not in page


def test_page_has_a_node_table_per_checkpoint_with_linked_offenders_and_a_settings_table(run_suite, pytester, monkeypatch):
    monkeypatch.setattr(images, "find_browser", lambda: None)
    run_suite("--ablation-report")
    page = (pytester.path / "reports" / "index.html").read_text()
    assert page.count("<h3>Nodes at the checkpoint resample x 1.0</h3>") == 3  # one per model
    # the iit control's offender L0H3 is linked from its verdict line to its row in the node table
    assert "<a href='#case3-iit-resample-1.0-L0H3'>L0H3=" in page
    row = page.split("id='case3-iit-resample-1.0-L0H3'>", 1)[1].split("</tr>", 1)[0]
    assert "<span class=muted>offender (expected of a control)</span>" in row and "not_in_circuit" in row
    # the gated model's in-circuit nodes hold, with their HL effect beside them
    siit = page.split("<h2 id='case3-siit'>", 1)[1].split("<h3>Separation</h3>", 1)[0]
    assert "offender" not in siit and siit.count("<span class=pass>holds</span>") == 10
    # AUROC 1.000 beside REJECTED is explained in one line, on the control only
    assert page.count("AUROC 1.000 with this verdict") == 1
    assert "<table id='settings'><tr><th class=l>checkpoints</th><td class=l>resample x 1.0</td></tr>" in page
    assert "<table id='timings'>" in page and "<details><summary>all metadata (ablation.json)" in page


def _figure(lines: int):
    import plotly.graph_objects as go

    fig = go.Figure()
    for i in range(lines):
        fig.add_scatter(x=[0, 0.5, 1, 2, 5, 10], y=[(i * j) % 7 / 7 for j in range(6)], name=f"L0H{i}")
    return fig


@needs_chromium
def test_one_page_pngs_equal_kaleidos(tmp_path):
    """The PNGs drawn in one page are the ones kaleido draws (same Chromium, same plotly.js), byte for byte,
    each at its own place in the list."""
    import kaleido

    figs = [_figure(n) for n in (1, 4, 9)]
    ours = images.render_png(images.find_browser(), figs)
    jobs = [{"fig": f, "path": str(tmp_path / f"{i}.png"), "opts": {"format": "png", "width": 1000, "height": 400}}
            for i, f in enumerate(figs)]
    kaleido.write_fig_from_object_sync(jobs, kopts={"n": 1})
    assert [o == (tmp_path / f"{i}.png").read_bytes() for i, o in enumerate(ours)] == [True, True, True]


def test_a_browser_that_draws_nothing_costs_only_the_images(tmp_path, monkeypatch):
    """A Chromium that exits without drawing: one notice, no image at all (never some of them)."""
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(images, "find_browser", lambda: str(fake))
    rows = [{"kind": "effect", "task": "3", "model": "siit", "mode": "resample", "node": "L0H0", "status": "in_circuit",
             "scale": s, "effect": 0.5, "cells_flipped": 1, "cells_counted": 2} for s in (0.0, 1.0)]
    out, notice = images.render(rows)
    assert out == {}
    assert notice == "static images skipped: Chromium drew 0 of 1 figures (cannot open display); HTML and CSV written"


@needs_chromium
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_while_kaleido_draws_pdfs_kills_its_browser_and_leaves_no_temporary_folder(signame):
    """kaleido's PDFs: a SIGTERM ended the process on the spot and left its page, the browser's profile
    (~2.3 MB) and the PDFs in the temporary folder; a Ctrl-C hung it. Now the process ends by the signal
    at once, with its browser killed and nothing left."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    pytest.importorskip("kaleido")
    scratch = Path(tempfile.mkdtemp(prefix="sig"))  # not tmp_path: Chromium's socket paths below it would be too long
    code = ("import plotly.graph_objects as go\nfrom pytest_circuit_ablation.report import images\n"
            "figs = [(f'f{i}', go.Figure(go.Scatter(y=[i, 2 * i, i])).to_dict()) for i in range(400)]\n"
            "print(images._render_pdf(images.find_browser(), figs)[1])\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(scratch)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(scratch.rglob("*.pdf")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the first PDF is written: the browser is up and drawing
        assert proc.poll() is None, proc.communicate()
        browser = _processes_mentioning(str(scratch))  # its profile folder is on its command line
        assert browser
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == -getattr(signal, signame), (out, err[-2000:])
        assert list(scratch.iterdir()) == []
        # gone: killed by the handler (so nothing it writes lands while the folder is removed); the browser
        # also exits within about a second by itself once its pipe closes, so this holds either way
        deadline = time.monotonic() + 3
        while _processes_mentioning(str(scratch)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_mentioning(str(scratch))
    finally:
        proc.kill()
        proc.wait()
        for pid in _processes_mentioning(str(scratch)):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


def _processes_mentioning(text: str) -> set[int]:
    """Live (not zombie) processes whose command line holds ``text``."""
    import os

    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() not in f.read():
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.add(int(entry))
        except (OSError, ValueError):
            continue
    return found
