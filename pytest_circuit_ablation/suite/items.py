"""The suite's items: one per (model, node, mode, scale) plus per-model load, accuracy and separation
items, with readable ids and their marks. Built deterministically (sorted) from the plan, so every
pytest-xdist worker collects the same items in the same order. Standard library and pytest only.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ..core.cases import case_sort_key
from .gate import CONTROL, control_mark
from ..core.modes import MODES
from ..core.nodes import Node
from .plan import ModelPlan
from .settings import Settings


@dataclass(frozen=True)
class ItemSpec:
    """What one test item checks (its parameter, not a pytest Item); the test function looks its numbers
    up by these fields."""

    kind: str  # "load" | "accuracy" | "effect" | "separation" | "diagnosis"
    model: str  # ModelRef.key, e.g. "case3-siit"
    node: Node | None = None
    mode: str | None = None
    scale: float | None = None

    @property
    def id(self) -> str:
        parts = [self.model]
        if self.node is not None:
            parts.append(self.node.name)
        if self.mode is not None:
            parts += [self.mode, repr(self.scale)]
        return "-".join(parts)

    def __repr__(self) -> str:  # --setup-show and --setup-plan print a fixture's parameter by its repr
        return f"{self.kind}:{self.id}"


def _mode_order(mode: str) -> int:
    return MODES.index(mode)


def _configs(settings: Settings) -> list[tuple[str, float]]:
    pairs = {(a.mode, a.scale) for a in settings.sweep.ablations()}
    return sorted(pairs, key=lambda ms: (_mode_order(ms[0]), ms[1]))


def _group(plan: ModelPlan) -> pytest.MarkDecorator:
    return pytest.mark.xdist_group(f"case{plan.ref.case_id}")


def _marks(plan: ModelPlan, settings: Settings, mode: str | None, scale: float | None, model_level: bool) -> list:
    marks = [_group(plan)]
    if model_level and plan.ref.role == CONTROL and settings.gate.is_checkpoint(mode, scale):
        why = (plan.case.spec.get("models", {}).get(plan.ref.name, {}).get("why") if plan.case else None) or "negative control"
        marks.append(control_mark(why))  # the model-level gate must reject it; its nodes only record numbers
    return marks


def build_items(plans: list[ModelPlan], settings: Settings) -> dict[str, list]:
    """pytest.param lists per test function name."""
    out: dict[str, list] = {"load": [], "accuracy": [], "effect": [], "separation": [], "diagnosis": []}
    configs = _configs(settings)
    for plan in sorted(plans, key=lambda p: (case_sort_key(p.ref.case_id), p.ref.name)):
        key = plan.ref.key
        item = ItemSpec("load", key)
        out["load"].append(pytest.param(item, id=item.id, marks=[_group(plan)]))
        if not plan.ok:
            continue
        item = ItemSpec("accuracy", key)
        out["accuracy"].append(pytest.param(item, id=item.id, marks=[_group(plan)]))
        for node in plan.nodes:
            for mode, scale in configs:
                item = ItemSpec("effect", key, node, mode, scale)
                out["effect"].append(pytest.param(item, id=item.id, marks=_marks(plan, settings, mode, scale, False)))
        for mode, scale in configs:
            item = ItemSpec("separation", key, None, mode, scale)
            out["separation"].append(pytest.param(item, id=item.id, marks=_marks(plan, settings, mode, scale, True)))
        for node in plan.nodes:
            item = ItemSpec("diagnosis", key, node)
            out["diagnosis"].append(pytest.param(item, id=item.id, marks=[_group(plan)]))
    return out
