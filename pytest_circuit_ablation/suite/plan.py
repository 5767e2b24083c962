"""What the suite will run, decided at collection time from small files only (no torch).

The plan lists every model to gate with its nodes and circuit. A model whose files cannot be read,
or whose case has no task definition, stays in the plan with its error: its one ``load`` item fails
with that line and the other models still run. Only a plan with nothing loadable at all, or an
unknown task name, stops collection.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core import cases, hubfiles
from ..core.cases import Case, ModelRef
from ..errors import AblationError
from ..core.nodes import Node
from .settings import Settings, in_option_terms


@dataclass
class ModelPlan:
    ref: ModelRef
    case: Case | None = None
    nodes: list[Node] = field(default_factory=list)
    circuit: frozenset[Node] = frozenset()
    widths: dict[Node, int] = field(default_factory=dict)
    error: str | None = None
    not_trained: str | None = None  # case.json says this model never reached its targets, and why
    work: float = 0.0  # the engine's work in arbitrary units (``estimated_work``), to schedule big models first

    @property
    def ok(self) -> bool:
        return self.error is None


def _plan_model(ref: ModelRef, case: Case | None, settings: Settings) -> ModelPlan:
    plan = ModelPlan(ref, case)
    declared = (case.spec.get("models", {}).get(ref.name, {}) if case is not None else {})
    if ref.source == "builtin" and declared.get("status") == "not-trained":
        plan.not_trained = declared.get("why", "no reason recorded")
        plan.error = f"not trained to its targets: {plan.not_trained}"
        return plan
    try:
        if case is None:
            case = cases.load_case(ref.case_id)
            plan.case = case
        if not ref.path.is_dir():
            raise AblationError(f"{ref.path}: model folder not found")
        cfg = hubfiles.read_config(ref.path)
        weights = ref.path / hubfiles.WEIGHTS_FILE
        if not weights.is_file():
            raise AblationError(f"{weights}: {'a folder, not a file' if weights.is_dir() else 'file not found'}")
        plan.nodes = sorted(cases.model_nodes(ref), key=Node.sort_key)
        plan.circuit = frozenset(cases.model_circuit(ref, case, plan.nodes))
        plan.widths = {n: (cfg["d_mlp"] if n.is_mlp else cfg["d_model"]) for n in plan.nodes}
        plan.work = estimated_work(cfg, case.max_seq_len, plan.nodes)
        sweep = settings.sweep
        if sweep.uses_pca:
            limit = min([sweep.inputs, *plan.widths.values()])
            if sweep.pca_components > limit:
                raise AblationError(f"--ablation-pca-components {sweep.pca_components}: more than the narrowest node of {ref.key} allows ({limit})")
    except AblationError as exc:
        plan.error = in_option_terms(exc)
    return plan


def estimated_work(cfg: dict, seq_len: int, nodes: list[Node]) -> float:
    """Multiply-adds per (pair, scale) of every node's patched runs: each node re-runs what follows it
    (its own layer's MLP for a head, then every later layer) on every position. Only the ranking
    matters: xdist starts the costliest cases first, so the longest one is not left to run alone at
    the end (case 21, four layers, was 45% of the main job's engine time)."""
    d, d_mlp = cfg["d_model"], (0 if cfg.get("attn_only") else cfg.get("d_mlp") or 0)
    d_heads = cfg["n_heads"] * cfg["d_head"]
    attention = 4 * d * d_heads + 2 * d_heads * seq_len  # Q, K, V and O; scores and z
    mlp = 2 * d * d_mlp
    layers = cfg["n_layers"]
    return float(sum(seq_len * ((layers - 1 - n.layer) * (attention + mlp) + (0 if n.is_mlp else mlp)) + 1
                     for n in nodes))


def build_plan(settings: Settings) -> list[ModelPlan]:
    """Models to gate: the user's folder if given, else every built-in case's models; with a shard, its share."""
    return select_shard(all_plans(settings), settings.shard)


def select_shard(plans: list[ModelPlan], shard: tuple[int, int] | None) -> list[ModelPlan]:
    """Shard I of N: the plans sorted by (case, model) and dealt out in turn. The split depends only on the
    set of models, never on the machine or the order they were found in, so N jobs cover each model once."""
    if shard is None:
        return plans
    index, count = shard
    ordered = sorted(plans, key=lambda p: (cases.case_sort_key(p.ref.case_id), p.ref.name))
    mine = ordered[index - 1::count]
    if not mine:
        raise AblationError(f"--ablation-shard {index}/{count}: no model falls in this shard "
                            f"({len(plans)} models planned in all; use at most {len(plans)} shards)")
    return mine


def _check_cases_env() -> None:
    """$CIRCUIT_ABLATION_CASES set to a folder that is missing or holds no case is refused by name: the
    plan otherwise said "unknown task '3' (built-in cases: none)", naming neither."""
    import os

    env = os.environ.get(cases.CASES_ENV)
    if not env:
        return
    where = cases.builtin_cases_dir()
    if not where.is_dir():
        raise AblationError(f"${cases.CASES_ENV}={env}: {'not a folder' if where.exists() else 'no such folder'}")
    if not cases.available_case_ids():
        raise AblationError(f"${cases.CASES_ENV}={env}: holds no case (no <id>/case.json in it)")


def all_plans(settings: Settings) -> list[ModelPlan]:
    """Every model to gate, before a shard takes its share."""
    _check_cases_env()
    available = cases.available_case_ids()
    if settings.tasks:
        unknown = [t for t in settings.tasks if t not in available]
        if unknown:
            raise AblationError(f"--ablation-tasks: unknown task {unknown[0]!r} ({cases.cases_words()}: {', '.join(available) or 'none'})")
    plans: list[ModelPlan] = []
    if settings.models_dir is not None:
        try:
            refs = cases.user_models(settings.models_dir)
        except AblationError as exc:
            raise AblationError(in_option_terms(exc)) from None
        if settings.tasks:
            present = sorted({r.case_id for r in refs}, key=cases.case_sort_key)
            absent = [t for t in settings.tasks if t not in present]
            if absent:  # a task asked for and not there is a mistake, whether or not others are
                raise AblationError(f"--ablation-tasks {','.join(absent)}: no such case under --ablation-models "
                                    f"{settings.models_dir} (it has {', '.join(present)})")
            refs = [r for r in refs if r.case_id in settings.tasks]
        plans = [_plan_model(r, None, settings) for r in refs]
        if not any(p.ok for p in plans):
            reasons = "; ".join(p.error or "" for p in plans[:3])
            raise AblationError(f"--ablation-models {settings.models_dir}: no loadable case ({reasons})")
        return plans
    for case_id in settings.tasks or available:
        case = cases.load_case(case_id)
        plans += [_plan_model(ref, case, settings) for ref in case.builtin_models]
    return plans
