"""The session's evaluations: each model is evaluated once per process, on first use, and every item
looks its numbers up here. A model that fails to load is remembered as refused, with its one-line
reason, so its other items skip instead of repeating the failure.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import AblationError
from .plan import ModelPlan
from .settings import Settings, in_option_terms


class Refused(Exception):
    """A model that could not be evaluated; the message is the one line the user sees."""


class AblationStore:
    def __init__(self, settings: Settings, plans: list[ModelPlan], cache_dir: Path | None) -> None:
        self.settings = settings
        self.plans = {p.ref.key: p for p in plans}
        self.cache_dir = cache_dir
        self._done: dict[str, object] = {}
        self._refused: dict[str, str] = {}

    def plan(self, key: str) -> ModelPlan:
        return self.plans[key]

    def evaluation(self, key: str):
        """The model's Evaluation (see evaluate.py), computed on first call."""
        if key in self._refused:
            raise Refused(self._refused[key])
        if key not in self._done:
            plan = self.plans[key]
            if plan.error:
                self._refused[key] = plan.error
                raise Refused(plan.error)
            from ..core.evaluate import evaluate_model

            try:
                self._done[key] = evaluate_model(plan.ref, plan.nodes, set(plan.circuit), self.settings.sweep, self.cache_dir)
            except AblationError as exc:
                self._refused[key] = in_option_terms(exc)
                raise Refused(self._refused[key]) from None
            except Exception as exc:
                if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":  # host, torch (CUDA)
                    self._refused[key] = (f"{key}: out of memory while evaluating ({type(exc).__name__}); "
                                          "lower --ablation-memory-mb or --ablation-inputs")
                    raise Refused(self._refused[key]) from None
                # A bug: the item that met it shows the traceback; the model's other items (hundreds) are
                # refused in one line instead of each evaluating the whole model again.
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                self._refused[key] = f"{key}: evaluating it failed in an earlier item ({type(exc).__name__}: {first})"
                raise
        return self._done[key]
