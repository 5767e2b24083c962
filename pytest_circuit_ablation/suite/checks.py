"""What each kind of item asserts, and the report row it records (the gate: see gate.py).

Items away from the gate checkpoints are measurements: they pass unless an invariant breaks (cells
counted, flipped within [0, counted], an exact no-op at identity settings). At a checkpoint, an
effect item asserts its node's side of the gate and a separation item asserts the whole gate. A model
that does not do its task has its checkpoint items skipped as not meaningful (its accuracy item
fails), never passed.
"""
from __future__ import annotations

from typing import Callable

import pytest

from ..core import metrics, modes
from ..core.hubfiles import training_record
from ..report import baseline
from ..report.rows import AccuracyRow, DiagnosisRow, EffectRow, LoadRow, Row, SeparationRow, effect_columns
from .diagnosis import diagnose, requirement_offence
from .gate import CONTROL, not_meaningful, percent, reject, shown
from .items import ItemSpec
from .store import AblationStore, Refused

Record = Callable[[Row], None]


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def _evaluation(item: ItemSpec, store: AblationStore):
    try:
        return store.evaluation(item.model)
    except Refused as exc:
        pytest.skip(f"model refused ({exc}); see test_model_loads[{item.model}]")


def _common(item: ItemSpec, store: AblationStore) -> dict[str, str]:
    """The fields every row carries (report/rows.py ``_Common``)."""
    plan = store.plan(item.model)
    return {"kind": item.kind, "item": item.id, "task": plan.ref.case_id, "model": plan.ref.name,
            "role": plan.ref.role, "source": plan.ref.source}


def check_load(item: ItemSpec, store: AblationStore, record: Record) -> None:
    plan = store.plan(item.model)
    row = LoadRow(**_common(item, store), **training_record(plan.ref.path))
    error = plan.error
    if error is None:
        try:
            ev = store.evaluation(item.model)
            row.update(model_hash=ev.model_hash, inputs_digest=ev.inputs_digest, seconds=round(ev.seconds, 3))
        except Refused as exc:
            error = str(exc)
    row["message"] = error or ""
    record(row)
    if plan.not_trained:
        pytest.skip(f"{item.model}: {error} (see its case.json)")
    if error:
        _fail(f"{item.model} refused: {error}")


def _not_meaningful(store: AblationStore, item: ItemSpec) -> None:
    ev = store.evaluation(item.model)
    if ev.result.accuracy < store.settings.gate.min_accuracy:
        pytest.skip(not_meaningful(item.model, ev.result.accuracy, store.settings.gate.min_accuracy))


def check_accuracy(item: ItemSpec, store: AblationStore, record: Record) -> None:
    ev = _evaluation(item, store)
    res = ev.result
    row = AccuracyRow(**_common(item, store), accuracy=res.accuracy, cells=res.clean_cells, wrong=res.clean_wrong)
    record(row)
    if res.accuracy < store.settings.gate.min_accuracy:
        need = store.settings.gate.min_accuracy
        _fail(f"{item.model}: LL matches HL on {percent(res.accuracy, need)} of cells ({res.clean_wrong} of {res.clean_cells} "
              f"wrong), needs {need * 100:g}%")


def check_effect(item: ItemSpec, store: AblationStore, record: Record) -> None:
    ev = _evaluation(item, store)
    node, mode, scale = item.node, item.mode, item.scale
    row = EffectRow(**_common(item, store), **effect_columns(ev, node, mode, scale), gate_role=_gate_role(store, item))
    flipped, counted, value, high = row["cells_flipped"], row["cells_counted"], row["effect"], row["ci_high"]
    in_circuit = node in ev.circuit
    settings = store.settings
    checkpoint = settings.gate.is_checkpoint(mode, scale)
    status, old = "", None
    if settings.baseline is not None:
        status, old = baseline.drift(item.id, value, settings.baseline, settings.baseline_tol)
        row.update(baseline=status, baseline_effect=old)
    record(row)
    if counted <= 0:
        _fail(f"{item.id}: no cell changes label between inputs; the effect is undefined")
    if not 0 <= flipped <= counted:
        _fail(f"{item.id}: {flipped} flipped of {counted} counted cells is impossible")
    if modes.is_identity(mode, scale) and flipped != ev.identity_flipped:
        _fail(f"{item.id}: identity ablation changed the output ({flipped} flipped, the clean model gives {ev.identity_flipped})")
    if status == "drift":
        was = "undefined" if old is None else f"{old:.4f}"
        _fail(f"{item.id}: effect moved from {was} in the baseline to {value:.4f} (tolerance {settings.baseline_tol})")
    if not checkpoint or store.plan(item.model).ref.role == CONTROL:
        return  # a control is judged as a whole by its separation item
    _not_meaningful(store, item)
    why = settings.gate.offence(in_circuit, value, high, ev.hl_effect(node, mode, scale))
    if why:
        _fail(f"{item.id}: {'in' if in_circuit else 'out-of'}-circuit node: {why}")


def _gate_role(store: AblationStore, item: ItemSpec) -> str:
    return store.settings.gate.item_role(store.plan(item.model).ref.role, item.mode, item.scale)


def separation(ev, mode: str, scale: float) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(in-circuit, out-of-circuit) lists of (node, effect) at one setting."""
    inside, outside = [], []
    for node in ev.nodes:
        flipped, counted = ev.result.counts[(node, mode, scale)]
        (inside if node in ev.circuit else outside).append((node.name, metrics.effect(flipped, counted)))
    return inside, outside


def _offenders(ev, gate, mode: str, scale: float) -> tuple[list[str], list[str]]:
    """(in-circuit, out-of-circuit) nodes failing their side of the gate, as ``name=effect``, with what the
    effect was held to when that is not a tau on the effect itself: ``[HL=x]`` (an in-circuit node under
    rule 'hl', which fails above its HL node's effect as well as below) or ``[upper=x]`` (an out-of-circuit
    node under rule 'hl', judged on its Wilson upper bound)."""
    low, high = [], []
    for node in ev.nodes:
        flipped, counted = ev.result.counts[(node, mode, scale)]
        value = metrics.effect(flipped, counted)
        inside = node in ev.circuit
        upper, hl = metrics.wilson_interval(flipped, counted)[1], ev.hl_effect(node, mode, scale)
        if not gate.offence(inside, value, upper, hl):
            continue
        held_to, text = "", f"{value:.3f}"
        if inside and (gate.rule != "hl" or hl is None):
            text = shown(value, gate.tau_in, False)
        elif inside:
            held_to = f"[HL={hl:.3f}]"
        elif gate.rule == "hl":
            held_to = f"[upper={shown(upper, gate.tau_out, True)}]"
        else:
            text = shown(value, gate.tau_out, True)
        (low if inside else high).append(f"{node.name}={text}{held_to}")
    return low, high


def check_separation(item: ItemSpec, store: AblationStore, record: Record) -> None:
    ev = _evaluation(item, store)
    settings = store.settings
    inside, outside = separation(ev, item.mode, item.scale)
    in_vals, out_vals = [v for _, v in inside], [v for _, v in outside]
    row = SeparationRow(**_common(item, store), mode=item.mode, scale=item.scale, auroc=metrics.auroc(in_vals, out_vals),
                        margin=metrics.margin(in_vals, out_vals), n_in=len(in_vals), n_out=len(out_vals),
                        gate_role=_gate_role(store, item), accuracy=ev.result.accuracy)
    low, high = _offenders(ev, settings.gate, item.mode, item.scale)
    row["offenders"] = " ".join(low + high)
    if settings.gate.is_checkpoint(item.mode, item.scale):  # the gate's decision, whatever pytest makes of it
        row["rejected"] = bool(low or high or not inside or not outside)
    record(row)
    if not settings.gate.is_checkpoint(item.mode, item.scale):
        return
    _not_meaningful(store, item)
    if not inside or not outside:
        reject(f"{item.id}: cannot separate with {len(inside)} in-circuit and {len(outside)} out-of-circuit nodes")
    if low or high:
        parts = []
        if low:
            parts.append(f"in-circuit off its mark: {', '.join(low)}")
        if high:
            parts.append(f"out-of-circuit above tau_out {settings.gate.tau_out}: {', '.join(high)}")
        reject(f"{item.id}: gate fails; " + "; ".join(parts))


def check_diagnosis(item: ItemSpec, store: AblationStore, record: Record) -> None:
    """One node's diagnosis (suite/diagnosis.py). Invariants: a node whose activation is the same on every
    input leaves resample x 1.0 a no-op; a PCA-degenerate node's ``pca-*-orth`` settings change nothing.
    With ``--ablation-require-irrelevant`` a gated model's constant-load-bearing nodes fail."""
    ev = _evaluation(item, store)
    settings, node = store.settings, item.node
    in_circuit = node in ev.circuit
    mode, scale = settings.gate.checkpoints[0]
    flipped, counted = ev.result.counts[(node, mode, scale)]
    value = metrics.effect(flipped, counted)
    offence = settings.gate.offence(in_circuit, value, metrics.wilson_interval(flipped, counted)[1],
                                    ev.hl_effect(node, mode, scale))
    stats = ev.node_stats[node]
    found = diagnose(settings.diagnosis, in_circuit, offence, stats.spread, ev.node_effects(node))
    degenerate = None if stats.orth_share is None else bool(stats.pca_degenerate)
    row = DiagnosisRow(**_common(item, store), node=node.name, status="in_circuit" if in_circuit else "not_in_circuit",
                       verdict=found.verdict, checkpoint_effect=value, moved_effect=found.moved_effect,
                       moved_by=found.moved_by, spread=stats.spread, explained=stats.explained,
                       orth_share=stats.orth_share, pca_degenerate=degenerate, reason=found.reason)
    record(row)
    no_ops = []
    if stats.constant:
        no_ops += [k for k in ev.result.counts if k[0] == node and k[1] == "resample" and k[2] == 1.0]
    if stats.pca_degenerate:
        no_ops += [k for k in ev.result.counts if k[0] == node and k[1] in ("pca-self-orth", "pca-resample-orth")]
    for key in no_ops:
        if ev.result.counts[key][0] != ev.identity_flipped:
            _fail(f"{item.id}: {key[1]} x {key[2]} must change nothing here ({'constant activation' if key[1] == 'resample' else 'empty PCA rest'}),"
                  f" yet {ev.result.counts[key][0]} cells flipped (the clean model gives {ev.identity_flipped})")
    if store.plan(item.model).ref.role == CONTROL:
        return
    why = requirement_offence(settings.diagnosis, in_circuit, found)
    if why:
        _not_meaningful(store, item)
        _fail(f"{item.id}: {why}")
