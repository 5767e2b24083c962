"""Screenshots of the report page, one per section, in headless Chromium (the README's images).

    .venv/bin/pytest --pyargs pytest_circuit_ablation --ablation-tasks=3 --ablation-report --ablation-images=none
    .venv/bin/python scripts/screenshots.py reports docs --width 1400

Each section is shot from a copy of the page in which a script hides every other top-level element, so
the section starts at the top of the viewport; the copy sits beside index.html and is removed after.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from pytest_circuit_ablation.report.images import find_browser

# name -> (anchor: CSS selector of a top-level element the section starts at or after [None: the top],
#          first: tag and text of the element it starts at [None: the anchor], stop: tag and text of the
#          first element after it not shown)
SECTIONS = {
    "overview": ("h1", None, ("H2", "")),
    "model": ("#case3-siit", None, ("H3", "^Separation")),
    "diagnosis": ("#case3-siit", ("H3", "^Diagnosis"), ("H2", "")),
    "run": (None, ("H2", "^Run"), ("DETAILS", "")),
}

_SHOW_ONLY = """
window.addEventListener('load', function () {
  var spec = %(spec)s, kids = Array.prototype.slice.call(document.body.children);
  function is(el, test) { return el.tagName === test[0] && new RegExp(test[1]).test(el.textContent.trim()); }
  var at = spec[0] ? kids.indexOf(document.querySelector(spec[0])) : 0;
  if (spec[1]) at = kids.findIndex(function (k, i) { return i >= at && is(k, spec[1]); });
  var end = kids.findIndex(function (k, i) { return i > at && is(k, spec[2]); });
  kids.forEach(function (k, i) { if (i < at || (end >= 0 && i >= end)) k.style.display = 'none'; });
  window.scrollTo(0, 0);
});
"""


def shoot(report: Path, out: Path, width: int, height: int) -> list[Path]:
    browser = find_browser()
    if browser is None:
        raise SystemExit("no Chrome/Chromium found (apt-get install -y chromium)")
    report, out = report.resolve(), out.resolve()
    page = (report / "index.html").read_text()
    written = []
    with tempfile.TemporaryDirectory() as profile:
        for name, spec in SECTIONS.items():
            copy = report / f".screenshot-{name}.html"
            copy.write_text(page.replace("</body>", f"<script>{_SHOW_ONLY % {'spec': json.dumps(spec)}}</script></body>"))
            target = out / f"report-{name}-{width}.png"
            try:
                subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                "--virtual-time-budget=20000", f"--screenshot={target}", copy.as_uri()],
                               check=True, capture_output=True, timeout=180)
            finally:
                copy.unlink()
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="report folder (index.html)")
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in shoot(args.report, args.out, args.width, args.height):
        print(path)


if __name__ == "__main__":
    main()
