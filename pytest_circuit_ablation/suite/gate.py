"""The gate's policy on the pytest side: how a failed gate is raised, what a negative control's items
expect, and the one sentence that describes the gate (terminal summary and ablation.json).

A negative control's model-level checkpoint item is ``xfail(strict=True, raises=GateRejected)``: only the
gate's own rejection counts as the control being rejected; any other error fails the run, and a control
that passes its gate fails it too (XPASS(strict), shown as ACCEPTED). Its per-node items only record
their numbers.
"""
from __future__ import annotations

import pytest

from .settings import Settings


class GateRejected(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The gate rejected a model: a failure of a gated model, the expected outcome of a control."""


def reject(message: str) -> None:
    raise GateRejected(message, pytrace=False)


def control_mark(why: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=GateRejected, reason=f"negative control, its gate must reject it: {why}")


def describe(settings: Settings) -> str:
    where = " at " + ", ".join(f"{m} x {s}" for m, s in settings.checkpoints)
    if settings.gate == "hl":
        return (f"in-circuit effect within {settings.hl_tol} of its HL node's effect in the HL model (>= {settings.tau_in} "
                f"where there is none), out-of-circuit Wilson upper bound <= {settings.tau_out}" + where)
    return f"in-circuit effect >= {settings.tau_in}, out-of-circuit <= {settings.tau_out}" + where


def offence(settings: Settings, in_circuit: bool, effect: float, ci_high: float, hl_effect: float | None) -> str | None:
    """Why one node fails its side of the gate at a checkpoint, or None when it passes. The rule itself:

    * in circuit, rule 'hl' with an HL reference: ``|effect - hl_effect| <= hl_tol``. A perfect LL model
      scores what interchanging the HL node does inside the HL model, which is not 1: a cell counts when
      the *output* label changes, whether or not this node's HL variable changed (and an HL variable that
      never varies over the inputs, like the input length, has effect 0);
    * in circuit otherwise: ``effect >= tau_in``;
    * out of circuit: the Wilson 95% upper bound (rule 'hl') or the effect itself (rule 'absolute')
      ``<= tau_out``.
    """
    if in_circuit:
        if settings.gate == "hl" and hl_effect is not None:
            if abs(effect - hl_effect) > settings.hl_tol:
                return f"effect {effect:.4f} vs its HL node's {hl_effect:.4f} (|diff| > hl_tol {settings.hl_tol})"
            return None
        return f"effect {effect:.4f} < tau_in {settings.tau_in}" if not effect >= settings.tau_in else None
    bound = ci_high if settings.gate == "hl" else effect
    label = "Wilson upper bound" if settings.gate == "hl" else "effect"
    return f"{label} {bound:.4f} > tau_out {settings.tau_out}" if not bound <= settings.tau_out else None
