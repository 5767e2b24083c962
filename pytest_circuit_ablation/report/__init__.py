"""The run's report, written atomically from the rows the items recorded:

* ``ablation.csv``: one row per (task, model, node, mode, scale) effect item, with counts, a Wilson 95%
  interval, the gate role and the outcome;
* ``separation.csv``: one row per (task, model, mode, scale): AUROC, margin, gate role, outcome;
* ``models.csv``: one row per model: load status, accuracy, cells, file hash;
* ``diagnosis.csv``: one row per (task, model, node): its verdict (suite/diagnosis.py) and the numbers behind it;
* ``ablation.json``: the run's metadata (versions, settings, model hashes, durations);
* ``index.html``: the self-contained page (report/html.py); ``figures/``: PNG and/or PDF (report/images.py, ``--ablation-images``).

Rows follow the schema in report/rows.py; they are sorted, and floats written with ``repr`` (shortest
round-trip), so the same inputs give the same bytes with or without pytest-xdist.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.files import write_all
from .rows import (DiagnosisColumns, EffectColumns, ModelColumns, Row, SeparationColumns, model_rows, report_order,
                   separation_rows, to_csv)


def write_files(folder: Path, files: dict[str, str], binary: dict[str, bytes] | None = None) -> None:
    """Write text and binary files all at once (``core.files.write_all``): an interrupted or failing run
    leaves the previous report whole."""
    data = {n: t.encode("utf-8") for n, t in files.items()}
    data.update(sorted((binary or {}).items()))
    write_all(folder, data)


def write_report(folder: Path, rows: list[Row], meta: dict[str, Any] | None = None,
                 images: tuple[str, ...] = ("png",)) -> tuple[list[Path], str | None]:
    """Write every report file at once, with static figures in the ``images`` formats (none: ``()``);
    returns the paths and a notice when static images were skipped."""
    import json

    from .html import build_page, gate_marks
    from .images import render

    meta = dict(meta or {})
    rows = report_order(rows)
    files = {
        "ablation.csv": to_csv([r for r in rows if r["kind"] == "effect"], EffectColumns),
        "separation.csv": to_csv(separation_rows(rows), SeparationColumns),
        "models.csv": to_csv(model_rows(rows), ModelColumns),
        "diagnosis.csv": to_csv([r for r in rows if r["kind"] == "diagnosis"], DiagnosisColumns),
    }
    notice = None
    binary: dict[str, bytes] = {}
    if images:
        binary, notice = render(rows, gate_marks(meta), images)
        meta["static_images"] = notice or f"{len(binary)} files under figures/"
    else:
        meta["static_images"] = "none asked for (--ablation-images=none)"
    files["ablation.json"] = json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n"
    files["index.html"] = build_page(rows, meta)
    write_files(folder, files, binary)
    _drop_stale_figures(folder, set(binary))
    return [folder / name for name in files] + [folder / name for name in sorted(binary)], notice


def _drop_stale_figures(folder: Path, written: set[str]) -> None:
    """Remove the PNGs and PDFs of an earlier report that this one did not write (another model set,
    format, or no images at all): a figure beside CSVs it does not come from would be read as theirs."""
    for path in sorted((folder / "figures").glob("*")):
        if path.suffix in (".png", ".pdf") and path.is_file() and f"figures/{path.name}" not in written:
            path.unlink(missing_ok=True)
