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

import re
from pathlib import Path
from typing import Any

from ..core.files import write_all
from ..core.modes import MODES
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


#: the files a report writes at its folder's top level
REPORT_FILES = ("ablation.csv", "separation.csv", "models.csv", "diagnosis.csv", "ablation.json", "index.html")
#: a static figure's name, ``case<task>-<model>-<mode>.png|pdf`` (images.py): the only files a report removes
_FIGURE_NAME = re.compile(r"case[^/]+-(?:%s)\.(?:png|pdf)" % "|".join(re.escape(m) for m in MODES))


def foreign_files_problem(folder: Path) -> str | None:
    """A folder that holds files of a report's names that no report wrote (no ``ablation.json`` of one)
    would lose them: a project's own ``docs/index.html`` or ``reports/`` of another tool; and a folder of
    models (InterpBench's hub layout) is no place for a report. None when the folder is new, holds
    neither, or is an earlier report's; else why it is refused."""
    folder = Path(folder)
    if not folder.is_dir() or _is_report(folder / "ablation.json"):
        return None
    held = sorted(p.parent.name for p in folder.glob("*/ll_model.pth"))
    if held:  # --ablation-report-dir (or merge -o) given the models' own folder
        return (f"{folder} holds models ({', '.join(f'{c}/ll_model.pth' for c in held[:2])}{' and more' if len(held) > 2 else ''}): "
                "a report does not go among them; choose an empty or new folder")
    clash = [name for name in REPORT_FILES if (folder / name).exists() and not _written_by_a_report(folder / name)]
    if not clash:
        return None
    return (f"{folder} holds {' and '.join(clash[:2])}{' and more' if len(clash) > 2 else ''}, which no report of this "
            f"plugin wrote (no ablation.json of one): a report would overwrite {'it' if len(clash) == 1 else 'them'}; "
            "choose an empty or new folder")


def _written_by_a_report(path: Path) -> bool:
    """A report's own file, known by its content: a table's header row, the page's title. A project may keep
    an earlier report's byte-stable tables and page and leave out its ablation.json (timings, versions)."""
    from .rows import TABLES, columns

    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    if path.suffix == ".csv" and path.stem in TABLES:
        return head.split("\n", 1)[0].strip() == ",".join(columns(TABLES[path.stem]))
    if path.name == "index.html":
        return "<title>Circuit ablation report</title>" in head
    return path.name == "ablation.json" and _is_report(path)


def _is_report(meta_file: Path) -> bool:
    import json

    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and "settings" in meta and "models" in meta


def _drop_stale_figures(folder: Path, written: set[str]) -> None:
    """Remove the figures of an earlier report that this one did not write (another model set, format, or
    no images at all): a figure beside CSVs it does not come from would be read as theirs. Only files
    named as a report names its figures: anything else in ``figures/`` is someone else's."""
    for path in sorted((folder / "figures").glob("*")):
        if _FIGURE_NAME.fullmatch(path.name) and path.is_file() and f"figures/{path.name}" not in written:
            path.unlink(missing_ok=True)
