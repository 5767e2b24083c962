"""The science: cases, model files, inputs, ablation modes, the batched engine and its reference loop,
and the metric. No pytest here; a notebook uses it directly::

    from pytest_circuit_ablation.core import Sweep, evaluate_case
    ev = evaluate_case("3", "siit", Sweep(modes=("resample", "zero"), inputs=100))
    ev.effects("resample", 1.0)          # node -> effect
    ev.hl_effect(ev.nodes[0], "resample", 1.0), ev.result.accuracy
"""
from .evaluate import Evaluation, evaluate_case, evaluate_model
from .sweep import Sweep

__all__ = ["Evaluation", "Sweep", "evaluate_case", "evaluate_model"]
