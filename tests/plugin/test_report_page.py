"""The HTML page in a real headless Chromium (every figure drawn, no JavaScript error), static images
with Chromium present, and a clear one-line notice without it."""
import json
import os
import struct
import subprocess

import pytest

from pytest_circuit_ablation.report import images

CHROMIUM = images.find_browser()


def needs_chromium(test):
    """Skip without Chromium on a developer's machine; under CI (CI=true) a missing browser is a failure,
    so a broken install cannot turn the browser tests green."""
    if CHROMIUM is not None:
        return test
    if os.environ.get("CI"):
        def fail(*_, **__):
            pytest.fail("no Chromium under CI=true: .ci/run must install it (apt-get install -y chromium)")

        fail.__name__, fail.__doc__ = test.__name__, test.__doc__
        return fail
    return pytest.mark.skip(reason="no Chromium: apt-get install -y chromium (.ci/run installs it)")(test)


def _dump_dom(page, tmp_path):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=30000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


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
    for model in ("siit", "iit", "natural"):
        for mode in ("resample", "pca-self-var"):
            png = (reports / "figures" / f"case3-{model}-{mode}.png").read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            assert struct.unpack(">II", png[16:24]) == (1000, 400)
            assert (reports / "figures" / f"case3-{model}-{mode}.pdf").read_bytes()[:5] == b"%PDF-"
    meta = json.loads((reports / "ablation.json").read_text())
    assert meta["static_images"] == "12 files under figures/"
    assert meta["settings"]["inputs"] == 30 and meta["models"]["case3-siit"]["hash"]
    assert meta["versions"]["torch"].startswith("2.13")


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
