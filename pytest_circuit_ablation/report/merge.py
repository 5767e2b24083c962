"""Merge the reports of runs that each gated a share of the models (``--ablation-shard I/N``, a CI matrix)
into the report one run over all of them would have written.

The rows are rebuilt from each folder's tables (``results.read``) and its ``ablation.json``; the report is
then written by the same writer a run uses, so the CSVs are byte-identical to a single run's and the page
differs only in its timings. Folders whose settings, gate, baseline or number-changing package versions
differ are refused (their numbers are not comparable), and so are folders of different plans, a model gated
in two folders, a shard missing from a split, folders that together lack a planned model, and folders
whose plans name one model with different files (another folder of the same name) or judge it against
another task definition or circuit (another case.json, HL model or edges.pkl).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import AblationError
from .rows import Row

#: ablation.json keys that must agree across the merged folders (the numbers or verdicts depend on them)
MUST_AGREE = ("gate", "settings")
#: the packages whose version can change a number; the others (plotly, pytest, kaleido, ...) may differ
NUMERIC_PACKAGES = ("pytest-circuit-ablation", "torch", "transformer-lens", "numpy", "scikit-learn")
#: the settings that say which models were planned: folders that differ there are not shards of one run
PLAN_SETTINGS = ("tasks", "models_from")


def read_folder(folder: Path) -> tuple[list[Row], dict[str, Any]]:
    """One report folder's rows (as the items recorded them, for every field the report uses) and metadata."""
    from ..results import read
    from .rows import TABLES

    if not folder.is_dir():
        raise AblationError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
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
    planned = meta.get("planned_models")
    if planned is not None and not (isinstance(planned, list) and all(isinstance(k, str) for k in planned)
                                    or isinstance(planned, dict) and all(isinstance(h, (str, type(None))) for h in planned.values())):
        raise AblationError(f"{folder}: unreadable report (ablation.json's planned_models is neither a list of models "
                            "nor a map of models to hashes)")
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
        _check_agree(folder, meta, folders[0], first)
    shards = [m.get("shard") for m in metas]
    if any(shards):
        counts = {s.split("/")[1] for s in shards if s}
        if None in shards or len(counts) > 1:
            words = [s or ("a merged report" if m.get("merged_from") else "unsharded") for s, m in zip(shards, metas)]
            raise AblationError(f"shards of different splits: {', '.join(words)}")
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
    if len(metas) > 1:  # one folder alone is the report its run wrote (a -k run's of the models it ran)
        _check_covered(models, metas)
    # each run's own provenance (command, host, paths) stays with its folder's entry
    merged = {k: v for k, v in first.items() if k not in ("shard", "static_images", "provenance")}
    merged.update(models=dict(sorted(models.items())), items=sum(int(m.get("items") or 0) for m in metas),
                  versions=_versions([m.get("versions") or {} for m in metas]),
                  seconds_total=max(float(m.get("seconds_total") or 0.0) for m in metas),
                  merged_from=[{"folder": str(f), "shard": m.get("shard"), "seconds_total": m.get("seconds_total"),
                                **({"provenance": m["provenance"]} if m.get("provenance") else {})}
                               for f, m in zip(folders, metas)])
    return merged


def _check_agree(folder: Path, meta: dict[str, Any], first_folder: Path, first: dict[str, Any]) -> None:
    """Refuse a folder that is not a shard of the same run as the first one, saying how it differs."""
    settings, first_settings = meta.get("settings") or {}, first.get("settings") or {}
    for key in PLAN_SETTINGS:
        if settings.get(key) != first_settings.get(key):
            raise AblationError(f"{folder}: planned other models than {first_folder} ({key}: {first_settings.get(key)!r} vs "
                                f"{settings.get(key)!r}); merge the shards of one run")
    planned, first_planned = meta.get("planned_models"), first.get("planned_models")
    if planned is not None and first_planned is not None:
        only = sorted(set(planned) ^ set(first_planned))
        if only:
            raise AblationError(f"{folder}: planned other models than {first_folder} ({', '.join(only[:3])} in one plan "
                                f"only); merge the shards of one run")
        if isinstance(planned, dict) and isinstance(first_planned, dict):  # {model: hash of its files}
            for key in sorted(planned):
                mine, theirs = planned[key], first_planned[key]
                if mine and theirs and mine != theirs:
                    raise AblationError(f"{folder}: {key} is another model than {first_folder}'s of that name (its files' "
                                        f"hash {mine[:12]} vs {theirs[:12]}); merge the shards of one run")
    definitions, first_definitions = meta.get("definitions") or {}, first.get("definitions") or {}
    for key in sorted(set(definitions) & set(first_definitions)):
        if definitions[key] != first_definitions[key]:
            what = _first_difference(first_definitions[key], definitions[key])
            raise AblationError(f"{folder}: {key} was judged against another task definition or circuit than in "
                                f"{first_folder} ({what}); merge the shards of one run")
    if _baseline_key(meta.get("baseline")) != _baseline_key(first.get("baseline")):  # its name may differ
        raise AblationError(f"{folder}: compared with {_baseline_words(meta.get('baseline'))}, {first_folder} with "
                            f"{_baseline_words(first.get('baseline'))}; their drift verdicts do not merge")
    for key in MUST_AGREE:
        if meta.get(key) != first.get(key):
            what = _first_difference(first.get(key), meta.get(key))
            raise AblationError(f"{folder}: {key} differ from {first_folder}'s ({what}); its numbers are not comparable")
    versions, first_versions = meta.get("versions") or {}, first.get("versions") or {}
    for name in NUMERIC_PACKAGES:
        if versions.get(name) != first_versions.get(name):
            raise AblationError(f"{folder}: versions differ from {first_folder}'s ({name}: {first_versions.get(name)!r} vs "
                                f"{versions.get(name)!r}); its numbers are not comparable")


def _baseline_key(baseline: Any) -> Any:
    return (baseline.get("sha256"), baseline.get("tol")) if isinstance(baseline, dict) else None


def _baseline_words(baseline: Any) -> str:
    if not isinstance(baseline, dict):
        return "no baseline"
    return f"baseline {baseline.get('file')} (sha256 {str(baseline.get('sha256'))[:12]}, tolerance {baseline.get('tol')})"


def _check_covered(models: dict[str, Any], metas: list[dict[str, Any]]) -> None:
    """The folders together hold every planned model: a shard run with ``-k`` (or one left out of an
    unsharded merge) would otherwise make a report that reads as whole but lacks models."""
    if not all(isinstance(m.get("planned_models"), (list, dict)) for m in metas):  # a list: before hashes
        return  # written before plans were recorded
    missing = [key for key in metas[0]["planned_models"] if key not in models]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise AblationError(f"{', '.join(missing[:3])}{more} of the plan in no merged report (a shard run with -k, or "
                            f"a shard's folder left out?); merge folders that together ran every planned model")


def _versions(all_versions: list[dict[str, Any]]) -> dict[str, Any]:
    """Each package's version; where the folders differ (only packages that change no number may), all of them."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(k for v in all_versions for k in v):
        seen = list(dict.fromkeys(v.get(name) for v in all_versions))
        out[name] = seen[0] if len(seen) == 1 else " / ".join(str(v or "none") for v in seen)
    return out


def _first_difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return f"{key}: {a.get(key)!r} vs {b.get(key)!r}"
    return f"{a!r} vs {b!r}"


def merge(folders: list[Path], out: Path, images: tuple[str, ...] = ("png",)) -> tuple[list[Path], str | None]:
    """Read every folder, check they fit together, and write the merged report to ``out`` (atomically)."""
    from ..core.files import writable_problem
    from . import foreign_files_problem, write_report

    if not folders:
        raise AblationError("merge: no report folders given")
    read = [read_folder(f) for f in folders]
    meta = merge_meta(folders, [m for _, m in read])
    problem = writable_problem(out) or foreign_files_problem(out)  # only once the merge fits: a refused one creates nothing
    if problem:
        raise AblationError(f"-o: {problem}")
    rows = [r for folder_rows, _ in read for r in folder_rows]
    try:
        return write_report(out, rows, meta, images)
    except OSError as exc:
        raise AblationError(f"-o: cannot write {exc.filename or out} ({exc.strerror or exc})") from None
