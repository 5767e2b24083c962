"""Merge the reports of runs that each gated a share of the models (``--ablation-shard I/N``, a CI matrix)
into the report one run over all of them would have written.

The rows are rebuilt from each folder's tables (``results.read``) and its ``ablation.json``; the report is
then written by the same writer a run uses, so the CSVs are byte-identical to a single run's and the page
differs only in its timings. Folders whose settings, gate or package versions differ are refused (their
numbers are not comparable), and so is a model gated in two folders or a shard missing from a split.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import AblationError
from .rows import Row

#: ablation.json keys that must agree across the merged folders (the numbers depend on them)
MUST_AGREE = ("gate", "settings", "versions")


def read_folder(folder: Path) -> tuple[list[Row], dict[str, Any]]:
    """One report folder's rows (as the items recorded them, for every field the report uses) and metadata."""
    from ..results import read
    from .rows import TABLES

    for name in (*(f"{t}.csv" for t in TABLES), "ablation.json"):
        if not (folder / name).is_file():
            raise AblationError(f"{folder}: not a report folder ({name} missing)")
    try:
        tables = read(folder)
        meta = json.loads((folder / "ablation.json").read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise AblationError(f"{folder}: unreadable report ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("models") or {}, dict):
        raise AblationError(f"{folder}: unreadable report (ablation.json is not this report's metadata)")
    shard = meta.get("shard")
    if shard is not None and not (isinstance(shard, str) and re.fullmatch(r"[1-9][0-9]*/[1-9][0-9]*", shard)):
        raise AblationError(f"{folder}: unreadable report (ablation.json's shard {shard!r} is not I/N)")
    rows = rows_from_tables(tables, meta)
    if isinstance(meta.get("items"), int) and len(rows) != meta["items"]:  # a truncated or edited table
        raise AblationError(f"{folder}: unreadable report (its tables hold {len(rows)} items, ablation.json says {meta['items']})")
    return rows, meta


def _records(frame) -> list[dict[str, Any]]:
    from ..results import plain_value

    return [{c: plain_value(v) for c, v in row.items()} for row in frame.to_dict("records")]


def rows_from_tables(tables: dict[str, Any], meta: dict[str, Any]) -> list[Row]:
    """The rows behind a report's tables: effect, separation and diagnosis rows from their CSVs, each
    model's load and accuracy rows from ``models.csv`` (load seconds from ``ablation.json``)."""
    models = {(m["task"], m["model"]): m for m in _records(tables["models"])}
    seconds = {k: v.get("seconds") for k, v in (meta.get("models") or {}).items()}
    rows: list[Row] = []
    for (task, model), m in models.items():
        common = {"task": task, "model": model, "role": m["role"], "source": m["source"]}
        load = {k: v for k, v in m.items() if k not in ("load", "accuracy", "cells", "wrong", "accuracy_outcome")}
        load.update(common, kind="load", outcome=m["load"], message=m.get("message") or "")
        if seconds.get(f"case{task}-{model}") is not None:
            load["seconds"] = seconds[f"case{task}-{model}"]
        rows.append({k: v for k, v in load.items() if v is not None})  # type: ignore[arg-type]
        if m.get("accuracy_outcome"):
            rows.append({**common, "kind": "accuracy", "accuracy": m["accuracy"], "cells": m["cells"],  # type: ignore[typeddict-item]
                         "wrong": m["wrong"], "outcome": m["accuracy_outcome"]})
    for name, kind in (("ablation", "effect"), ("separation", "separation"), ("diagnosis", "diagnosis")):
        for record in _records(tables[name]):
            m = models.get((record["task"], record["model"]), {})
            row = {**record, "kind": kind, "role": record.get("role") or m.get("role"), "source": m.get("source")}
            if kind == "separation":
                row["accuracy"] = m.get("accuracy")
            rows.append({k: v for k, v in row.items() if v is not None})  # type: ignore[arg-type]
    return rows


def merge_meta(folders: list[Path], metas: list[dict[str, Any]]) -> dict[str, Any]:
    """One ablation.json for the merged report: the shared settings, every model, the shards' wall times."""
    first = metas[0]
    for folder, meta in zip(folders[1:], metas[1:]):
        for key in MUST_AGREE:
            if meta.get(key) != first.get(key):
                what = _first_difference(first.get(key), meta.get(key))
                raise AblationError(f"{folder}: {key} differ from {folders[0]}'s ({what}); its numbers are not comparable")
    shards = [m.get("shard") for m in metas]
    if any(shards):
        counts = {s.split("/")[1] for s in shards if s}
        if None in shards or len(counts) > 1:
            raise AblationError(f"shards of different splits: {', '.join(str(s) for s in shards)}")
        count = int(counts.pop())
        seen = sorted(int(s.split("/")[0]) for s in shards)  # type: ignore[union-attr]
        missing = [i for i in range(1, count + 1) if i not in seen]
        if missing or len(seen) != len(set(seen)):
            raise AblationError(f"shards {', '.join(map(str, seen))} of {count} given: "
                                + (f"shard {missing[0]}/{count} is missing" if missing else "a shard is given twice"))
    models: dict[str, Any] = {}
    for folder, meta in zip(folders, metas):
        for key, value in (meta.get("models") or {}).items():
            if key in models:
                raise AblationError(f"{folder}: model {key} is in two of the merged reports")
            models[key] = value
    merged = {k: v for k, v in first.items() if k not in ("shard", "static_images")}
    merged.update(models=dict(sorted(models.items())), items=sum(int(m.get("items") or 0) for m in metas),
                  seconds_total=max(float(m.get("seconds_total") or 0.0) for m in metas),
                  merged_from=[{"folder": str(f), "shard": m.get("shard"), "seconds_total": m.get("seconds_total")}
                               for f, m in zip(folders, metas)])
    return merged


def _first_difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return f"{key}: {a.get(key)!r} vs {b.get(key)!r}"
    return f"{a!r} vs {b!r}"


def merge(folders: list[Path], out: Path, images: tuple[str, ...] = ("png",)) -> tuple[list[Path], str | None]:
    """Read every folder, check they fit together, and write the merged report to ``out`` (atomically)."""
    from ..core.files import writable_problem
    from . import write_report

    if not folders:
        raise AblationError("merge: no report folders given")
    read = [read_folder(f) for f in folders]
    meta = merge_meta(folders, [m for _, m in read])
    problem = writable_problem(out)  # only once the merge is known to fit: a refused one creates nothing
    if problem:
        raise AblationError(f"-o: {problem}")
    rows = [r for folder_rows, _ in read for r in folder_rows]
    try:
        return write_report(out, rows, meta, images)
    except OSError as exc:
        raise AblationError(f"-o: cannot write {exc.filename or out} ({exc.strerror or exc})") from None
