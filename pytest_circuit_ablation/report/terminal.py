"""The terminal summary: per task and model, the gate verdict, accuracy, AUROC and margin at each
checkpoint, and the worst offending nodes. Built from the same rows as the report."""
from __future__ import annotations

from typing import Any

from ..core.cases import case_sort_key
from ..suite.diagnosis import FLAGGED
from ..suite.gate import GATED, percent, verdict_text
from ..suite.settings import Settings
from .baseline import uncompared_models
from .rows import Row, checkpoint_verdict, report_order


def model_entries(rows: list[Row]) -> dict[tuple[str, str], dict[str, Any]]:
    """(task, model) -> role, accuracy, training record, refusal message and checkpoint separation rows,
    in report order."""
    models: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = models.setdefault((row["task"], row["model"]), {"role": row.get("role", GATED), "gates": []})
        if row["kind"] == "load":
            # a merged report's rows hold None where a model has no training record (not this project's trainer)
            entry["training"] = {k[len("train_"):]: v for k, v in row.items() if k.startswith("train_") and v is not None}
            if row["outcome"] != "passed":
                entry["refused"] = row.get("message", "")
                entry["refused_as"] = "SKIPPED" if row["outcome"] == "skipped" else "REFUSED"
        elif row["kind"] == "accuracy":
            entry["accuracy"] = row.get("accuracy")
        elif row["kind"] == "separation" and row.get("gate_role") in ("gate", "control"):
            entry["gates"].append(row)
    order = sorted(models, key=lambda k: (case_sort_key(k[0]), k[1]))
    return {k: models[k] for k in order}


def summary_lines(rows: list[Row], settings: Settings) -> list[str]:
    rows = report_order(rows)
    models = model_entries(rows)
    lines = [f"gate: {settings.gate.describe()}"]
    if settings.shard and settings.report_dir is not None:
        lines.append(f"shard {settings.shard[0]}/{settings.shard[1]}: these models only; circuit-ablation-report merge "
                     "joins the shards' report folders into the whole run's report")
    for task, model in models:
        entry = models[(task, model)]
        name = f"case{task} {model}"
        if "refused" in entry:
            lines.append(f"{name:<24} {entry['refused_as']}: {entry['refused']}")
            continue
        acc = entry.get("accuracy")
        acc_text = f"acc {percent(acc, settings.gate.min_accuracy)}" if isinstance(acc, float) else "acc ?"
        for gate in entry["gates"]:
            auroc, margin = gate.get("auroc"), gate.get("margin")
            lines.append(
                f"{name:<24} {verdict_text(entry['role'], checkpoint_verdict(gate)):<42} {acc_text}  "
                f"{gate['mode']} x {gate['scale']}: AUROC {auroc:.3f} margin {margin:+.3f}"
                + (f"  offenders: {gate['offenders']}" if gate.get("offenders") else "")
            )
        if not entry["gates"]:
            lines.append(f"{name:<24} (no checkpoint ran) {acc_text}")
    lines += diagnosis_lines(rows, in_report=settings.report_dir is not None)
    if settings.baseline is not None:
        lines += _baseline_lines(rows, settings)
    return lines


def flagged_nodes(rows: list[Row]) -> list[Row]:
    """Diagnosis rows of gated models whose verdict asks for a reader's attention, in report order. Not those
    of a model that fails its accuracy item: it does not do its task (NOT MEANINGFUL), so its effects say
    nothing about its nodes, and listing every node as leaking contradicted that verdict."""
    # its accuracy item failed, or its checkpoint was skipped for it: whichever of the two ran
    meaningless = {(r["task"], r["model"]) for r in rows
                   if (r["kind"] == "accuracy" and r.get("outcome") == "failed")
                   or (r["kind"] == "separation" and r.get("gate_role") in ("gate", "control") and r.get("outcome") == "skipped")}
    return [r for r in rows if r["kind"] == "diagnosis" and r.get("role") == GATED and r.get("verdict") in FLAGGED
            and (r["task"], r["model"]) not in meaningless]


def diagnosis_lines(rows: list[Row], in_report: bool = True) -> list[str]:
    """The diagnosis in a line, then each flagged node; ``in_report``: a report was asked for, whose
    diagnosis.csv holds every node's verdict."""
    diag = [r for r in rows if r["kind"] == "diagnosis"]
    if not diag:
        return []
    flagged = flagged_nodes(rows)
    where = "in diagnosis.csv" if in_report else "in the report's diagnosis.csv (--ablation-report)"
    lines = [f"diagnosis: {counted(len(flagged), 'node')} of gated models flagged ({', '.join(sorted(FLAGGED))}); "
             f"every node's verdict is {where}"]
    for r in flagged:
        lines.append(f"  case{r['task']} {r['model']} {r['node']}: {r['verdict']}: {r.get('reason', '')}")
    return lines


def _baseline_lines(rows: list[Row], settings: Settings) -> list[str]:
    drifted = [r for r in rows if r.get("baseline") == "drift"]
    absent = [r for r in rows if r.get("baseline") == "absent"]
    ran = {r["item"] for r in rows if r.get("kind") == "effect"}
    unrun = len(set(settings.baseline or ()) - ran)  # baseline items this run did not make (other modes, -k, a shard)
    lines = [f"baseline {settings.baseline_path}: {counted(len(drifted), 'item')} drifted from the baseline by more than "
             f"{settings.baseline_tol}, {counted(len(absent), 'item')} not in the baseline, "
             f"{counted(unrun, 'baseline item')} not in this run"]
    uncompared = uncompared_models(rows)
    if uncompared:
        lines.append(f"  compared with nothing: no item of {', '.join(uncompared)} is in the baseline (a new model, a "
                     "models folder of another name, a baseline of other models?); the run fails")
    for r in sorted(drifted, key=lambda r: -abs(_number(r.get("effect")) - _number(r.get("baseline_effect"))))[:10]:
        lines.append(f"  drifted: {r['item']}: {_effect(r.get('baseline_effect'))} -> {_effect(r.get('effect'))}")
    return lines


def _number(value) -> float:
    return value if isinstance(value, float) and value == value else 0.0


def _effect(value) -> str:
    """An effect, or 'undefined' where it has no number (no counted cell; null in a baseline)."""
    return f"{value:.4f}" if isinstance(value, float) and value == value else "undefined"


def counted(count: int, noun: str) -> str:
    """``1 item``, ``2 items``: the page, the summary and the plugin's one-line reasons say it alike."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
