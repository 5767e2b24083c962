"""The run's report, written atomically from the rows the items recorded:

* ``ablation.csv``: one row per (task, model, node, mode, scale) effect item, with counts, a Wilson 95%
  interval, the gate role and the outcome;
* ``separation.csv``: one row per (task, model, mode, scale): AUROC, margin, gate role, outcome;
* ``models.csv``: one row per model: load status, accuracy, cells, file hash;
* ``ablation.json``: the run's metadata (versions, settings, model hashes, durations);
* ``index.html``: the self-contained page (report/html.py); ``figures/``: PNG and PDF (report/images.py).

Rows are sorted, and floats written with ``repr`` (shortest round-trip), so the same inputs give the
same bytes with or without pytest-xdist.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..core.cases import case_sort_key
from ..core.modes import MODES
from ..core.nodes import parse_node

EFFECT_COLUMNS = ["task", "model", "node", "hook", "layer", "head", "status", "mode", "scale", "effect", "hl_effect", "kl_effect",
                  "cells_counted", "cells_flipped", "ci_low", "ci_high", "gate_role", "outcome", "item"]
SEPARATION_COLUMNS = ["task", "model", "role", "mode", "scale", "auroc", "margin", "n_in", "n_out", "gate_role",
                      "outcome", "offenders", "item"]
MODEL_COLUMNS = ["task", "model", "role", "source", "load", "accuracy", "cells", "wrong", "accuracy_outcome",
                 "train_accuracy", "train_iia", "train_strict_accuracy", "train_steps", "train_seconds",
                 "model_hash", "message"]


def _sort_key(row: dict[str, Any]) -> tuple:
    node = row.get("node")
    mode = row.get("mode")
    return (case_sort_key(row["task"]), row["model"], parse_node(node).sort_key() if node else (-1, -1),
            MODES.index(mode) if mode in MODES else -1, row.get("scale") if row.get("scale") is not None else -1.0)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in sorted(rows, key=_sort_key):
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def model_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge each model's load and accuracy rows into one."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["kind"] not in ("load", "accuracy"):
            continue
        entry = merged.setdefault((row["task"], row["model"]), {})
        if row["kind"] == "load":
            entry.update({k: v for k, v in row.items() if k != "outcome"}, load=row["outcome"])
        else:
            entry.update(accuracy=row.get("accuracy"), cells=row.get("cells"), wrong=row.get("wrong"),
                         accuracy_outcome=row["outcome"], task=row["task"], model=row["model"])
    return list(merged.values())


def write_files(folder: Path, files: dict[str, str], binary: dict[str, bytes] | None = None) -> None:
    """Write every file to a temporary name first, then move them all into place: an interrupted or
    failing run leaves the previous report whole."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    items = [(n, t.encode("utf-8")) for n, t in files.items()] + sorted((binary or {}).items())
    try:
        for name, data in items:
            final = folder / name
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def write_report(folder: Path, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None,
                 images: bool = True) -> tuple[list[Path], str | None]:
    """Write every report file at once; returns the paths and a notice when static images were skipped."""
    import json

    from .html import build_page
    from .images import render

    meta = dict(meta or {})
    files = {
        "ablation.csv": to_csv([r for r in rows if r["kind"] == "effect"], EFFECT_COLUMNS),
        "separation.csv": to_csv([r for r in rows if r["kind"] == "separation"], SEPARATION_COLUMNS),
        "models.csv": to_csv(model_rows(rows), MODEL_COLUMNS),
    }
    notice = None
    binary: dict[str, bytes] = {}
    if images:
        binary, notice = render(rows)
        meta["static_images"] = notice or f"{len(binary)} files under figures/"
    files["ablation.json"] = json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n"
    files["index.html"] = build_page(rows, meta)
    write_files(folder, files, binary)
    return [folder / name for name in files] + [folder / name for name in sorted(binary)], notice
