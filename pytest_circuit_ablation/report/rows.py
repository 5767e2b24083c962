"""The report's rows: one typed schema per kind of row, shared by the items that record them (suite/checks.py),
the report's writers (CSV, page, figures, baseline, terminal) and its reader (``results.read``).

Each CSV table is a TypedDict whose fields, in order, are the file's columns; a recorded row is that type
plus the fields every row carries (``kind``, ``item``, ``role``, ...) that are not columns of that table.
Column order, column types for pandas, and the CSV text all derive from these classes.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Literal, TypedDict, Union

from ..core.cases import case_sort_key
from ..core.modes import MODES
from ..core.nodes import parse_node

Kind = Literal["load", "accuracy", "effect", "separation", "diagnosis"]
ItemRole = Literal["measure", "gate", "control"]


class _Common(TypedDict, total=False):
    """Fields of every recorded row; ``outcome`` is added when the item's report comes in."""

    kind: Kind
    item: str
    task: str
    model: str
    role: str
    source: str
    outcome: str


class EffectColumns(TypedDict):
    """``ablation.csv``: one (task, model, node, mode, scale)."""

    task: str
    model: str
    node: str
    hook: str
    layer: int
    head: int | str  # a head index, or "MLP"
    status: str  # "in_circuit" | "not_in_circuit"
    mode: str
    scale: float
    effect: float
    hl_effect: float | None  # the HL node's own effect (in-circuit nodes of a case circuit, resample only)
    kl_effect: float | None  # normalised KL; None for regression tasks
    iit_effect: float | None  # base-only settings: iit's mean/zero effect, P(wrong after | right before) over all cells
    cells_counted: int
    cells_flipped: int
    ci_low: float
    ci_high: float
    gate_role: ItemRole
    note: str  # "pca-degenerate" on PCA-mode rows of a node whose PCA rest is empty (core/diagnosis.py)
    baseline: str  # with --ablation-baseline: "ok" | "drift" | "absent"; else empty
    baseline_effect: float | None  # the baseline's effect of this item
    outcome: str
    item: str


class SeparationColumns(TypedDict):
    """``separation.csv``: one (task, model, mode, scale)."""

    task: str
    model: str
    role: str
    mode: str
    scale: float
    auroc: float
    margin: float
    n_in: int
    n_out: int
    gate_role: ItemRole
    outcome: str
    verdict: str  # at a checkpoint: the gate's verdict word (suite/gate.verdict_word); else empty
    offenders: str
    item: str


class DiagnosisColumns(TypedDict):
    """``diagnosis.csv``: one (task, model, node): what the node is (suite/diagnosis.py) and the numbers that
    decided it."""

    task: str
    model: str
    node: str
    status: str  # "in_circuit" | "not_in_circuit"
    verdict: str
    checkpoint_effect: float  # at the gate's first checkpoint
    moved_effect: float | None  # the largest effect of a setting other than an interchange at scale 1
    moved_by: str  # that setting
    spread: float
    explained: float | None
    orth_share: float | None
    pca_degenerate: bool | None  # true | false | empty (no PCA in the sweep)
    reason: str
    outcome: str
    item: str


class ModelColumns(TypedDict, total=False):
    """``models.csv``: one model, its load and accuracy items merged."""

    task: str
    model: str
    role: str
    source: str
    load: str
    verdict: str  # the gate's verdict word over the model's checkpoints, REFUSED / SKIPPED when it did not load
    accuracy: float
    cells: int
    wrong: int
    accuracy_outcome: str
    train_accuracy: float
    train_iia: float
    train_strict_accuracy: float
    train_steps: int
    train_seconds: float
    model_hash: str
    message: str


class EffectRow(_Common, EffectColumns, total=False):
    pass


class SeparationRow(_Common, SeparationColumns, total=False):
    accuracy: float
    rejected: bool  # at a checkpoint: did the gate reject the model (its own decision, whatever pytest's outcome)


class LoadRow(_Common, total=False):
    model_hash: str
    inputs_digest: str  # ablation.json only: which inputs the model was evaluated on
    seconds: float
    message: str
    train_accuracy: float
    train_iia: float
    train_strict_accuracy: float
    train_steps: int
    train_seconds: float


class DiagnosisRow(_Common, DiagnosisColumns, total=False):
    pass


class AccuracyRow(_Common, total=False):
    accuracy: float
    cells: int
    wrong: int


Row = Union[EffectRow, SeparationRow, LoadRow, AccuracyRow, DiagnosisRow]


def columns(table: type) -> list[str]:
    """A table's CSV columns: its TypedDict's fields, in order."""
    return list(table.__annotations__)


TABLES: dict[str, type] = {"ablation": EffectColumns, "separation": SeparationColumns, "models": ModelColumns,
                           "diagnosis": DiagnosisColumns}


def dtype(table: type, column: str) -> str:
    """pandas dtype of a column, from its annotation: nullable ints, floats, else strings."""
    annotation = table.__annotations__[column]
    annotation = str(getattr(annotation, "__forward_arg__", annotation))  # a string under postponed annotations
    if "float" in annotation:
        return "float64"
    if "bool" in annotation:
        return "boolean"
    return "Int64" if annotation.replace(" | None", "") == "int" else "string"


def _sort_key(row: dict[str, Any]) -> tuple:
    node = row.get("node")
    mode = row.get("mode")
    return (case_sort_key(row["task"]), row["model"], parse_node(node).sort_key() if node else (-1, -1),
            MODES.index(mode) if mode in MODES else -1, row.get("scale") if row.get("scale") is not None else -1.0)


def report_order(rows: Iterable[Row]) -> list[Row]:
    """The rows in one order whatever order they arrived in (xdist workers finish in any order, a merge
    reads its folders in the order given), so the page and the terminal summary are the same bytes."""
    return sorted(rows, key=lambda r: (*_sort_key(r), r["kind"]))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest round-trip: the same number gives the same bytes
    return str(value)


def to_csv(rows: Iterable[dict[str, Any]], table: type) -> str:
    """The CSV text of one table, rows sorted (task, model, node, mode, scale)."""
    names = columns(table)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in sorted(rows, key=_sort_key):
        writer.writerow([_cell(row.get(c)) for c in names])
    return buf.getvalue()


def checkpoint_verdict(row: dict[str, Any]) -> str:
    """A checkpoint row's verdict word: from the gate's recorded decision and the item's outcome; a row read
    back from a written report (a merge) keeps the verdict its run wrote."""
    from ..suite.gate import verdict_word

    if row.get("rejected") is None and row.get("verdict"):
        return row["verdict"]
    return verdict_word(row.get("role", ""), row.get("outcome", ""), row.get("rejected"))


def separation_rows(rows: list[Row]) -> list[SeparationRow]:
    """The separation rows, each checkpoint's with the gate's verdict word (the verdict depends on the
    model's role as well as the outcome: a control's checkpoint is REJECTED when the gate rejects it)."""
    return [dict(r, verdict=checkpoint_verdict(r) if r.get("gate_role") in ("gate", "control") else "")
            for r in rows if r["kind"] == "separation"]  # type: ignore[misc]


def model_verdict(role: str, load: str | None, words: list[str]) -> str:
    """One model's verdict word: REFUSED / SKIPPED when it did not load; else over its checkpoints' verdict
    words, the first that is not what the model's role asks for, or the (shared) verdict of all; empty
    with no checkpoint run."""
    from ..suite.gate import upheld

    if load not in (None, "passed"):
        return "SKIPPED" if load == "skipped" else "REFUSED"
    if not words:
        return ""
    missed = [w for w in words if not upheld(role, w)]
    return (missed or words)[0]


def model_rows(rows: list[Row]) -> list[ModelColumns]:
    """Merge each model's load and accuracy rows into one, with its verdict."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    checkpoints: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        key = (row["task"], row["model"])
        if row["kind"] == "separation" and row.get("gate_role") in ("gate", "control"):
            checkpoints.setdefault(key, []).append(checkpoint_verdict(row))
        if row["kind"] not in ("load", "accuracy"):
            continue
        entry = merged.setdefault(key, {})
        if row["kind"] == "load":
            entry.update({k: v for k, v in row.items() if k != "outcome"}, load=row["outcome"])
        else:
            entry.update(accuracy=row.get("accuracy"), cells=row.get("cells"), wrong=row.get("wrong"),
                         accuracy_outcome=row["outcome"], task=row["task"], model=row["model"])
    for key, entry in merged.items():
        entry["verdict"] = model_verdict(entry.get("role", ""), entry.get("load"), checkpoints.get(key, []))
    return list(merged.values())  # type: ignore[return-value]


def effect_columns(ev, node, mode: str, scale: float) -> dict[str, Any]:
    """The measured fields of an effect row (node, counts, effect, interval, HL and KL effects) of one
    evaluation; the suite adds the item's own fields."""
    from ..core import metrics

    flipped, counted = ev.result.counts[(node, mode, scale)]
    low, high = metrics.wilson_interval(flipped, counted)
    return dict(node=node.name, hook=node.hook, layer=node.layer, head="MLP" if node.is_mlp else node.head,
                status="in_circuit" if node in ev.circuit else "not_in_circuit", mode=mode, scale=scale,
                effect=metrics.effect(flipped, counted), hl_effect=ev.hl_effect(node, mode, scale),
                kl_effect=ev.kl_effect(node, mode, scale), iit_effect=ev.iit_effect(node, mode, scale), cells_counted=counted, cells_flipped=flipped,
                ci_low=low, ci_high=high, note=_note(ev, node, mode))


def _note(ev, node, mode: str) -> str:
    stats = ev.node_stats.get(node)
    if stats is not None and stats.pca_degenerate and mode.startswith("pca-"):
        return "pca-degenerate"  # the PCA rest is empty: *-orth change nothing, pca-resample-var is resample
    return ""
