"""The gate, in one place: its thresholds and their defaults, the roles a model can have, the rule that
judges one node, the verdict on a model, the xfail policy for negative controls, and the one sentence
that describes it (terminal summary, ablation.json, report page). Changing the gate means editing this
module only (tests/test_layout.py pins it).

A negative control's model-level checkpoint item is ``xfail(strict=True, raises=GateRejected)``: only the
gate's own rejection counts as the control being rejected; any other error fails the run, and a control
that passes its gate fails it too (XPASS(strict), shown as ACCEPTED). Its per-node items only record
their numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ..core.cases import CONTROL, GATED, ROLES  # noqa: F401  (a model's role is part of case.json's format)

RULES = ("hl", "absolute")

TAU_IN = 0.5
TAU_OUT = 0.1
HL_TOL = 0.05  # the largest |LL - HL| of an in-circuit node over the trained models is 0.0068
MIN_ACCURACY = 0.99
CHECKPOINTS = (("resample", 1.0),)


@dataclass(frozen=True)
class GateRule:
    """What a model must show at each checkpoint (mode, scale) to pass."""

    rule: str = "hl"  # "hl": in-circuit nodes against the HL model's own effect; "absolute": against tau_in
    tau_in: float = TAU_IN
    tau_out: float = TAU_OUT
    hl_tol: float = HL_TOL
    min_accuracy: float = MIN_ACCURACY
    checkpoints: tuple[tuple[str, float], ...] = CHECKPOINTS

    def is_checkpoint(self, mode: str | None, scale: float | None) -> bool:
        return (mode, scale) in self.checkpoints

    def describe(self) -> str:
        """The gate in one sentence."""
        where = " at " + ", ".join(f"{m} x {s}" for m, s in self.checkpoints)
        if self.rule == "hl":
            return (f"in-circuit effect within {self.hl_tol} of its HL node's effect in the HL model (>= {self.tau_in} "
                    f"where there is none), out-of-circuit Wilson upper bound <= {self.tau_out}" + where)
        return f"in-circuit effect >= {self.tau_in}, out-of-circuit <= {self.tau_out}" + where

    def offence(self, in_circuit: bool, effect: float, ci_high: float, hl_effect: float | None) -> str | None:
        """Why one node fails its side of the gate at a checkpoint, or None when it passes:

        * in circuit, rule 'hl' with an HL reference: ``|effect - hl_effect| <= hl_tol``. A perfect LL model
          scores what interchanging the HL node does inside the HL model, which is not 1: a cell counts
          when the *output* label changes, whether or not this node's HL variable changed (and an HL
          variable that never varies over the inputs, like the input length, has effect 0);
        * in circuit otherwise: ``effect >= tau_in``;
        * out of circuit: the Wilson 95% upper bound (rule 'hl') or the effect itself (rule 'absolute')
          ``<= tau_out``.
        """
        if in_circuit:
            if self.rule == "hl" and hl_effect is not None:
                if abs(effect - hl_effect) > self.hl_tol:
                    return f"effect {effect:.4f} vs its HL node's {hl_effect:.4f} (|diff| > hl_tol {self.hl_tol})"
                return None
            return f"effect {shown(effect, self.tau_in, False, 4)} < tau_in {self.tau_in}" if not effect >= self.tau_in else None
        bound = ci_high if self.rule == "hl" else effect
        label = "Wilson upper bound" if self.rule == "hl" else "effect"
        return f"{label} {shown(bound, self.tau_out, True, 4)} > tau_out {self.tau_out}" if not bound <= self.tau_out else None

    def item_role(self, model_role: str, mode: str | None, scale: float | None) -> str:
        """What an item at (mode, scale) is for: 'gate' (asserts the gate), 'control' (a negative control's
        checkpoint, which must be rejected) or 'measure' (records numbers only)."""
        if not self.is_checkpoint(mode, scale):
            return "measure"
        return "control" if model_role == CONTROL else "gate"


def shown(value: float, limit: float, fails_above: bool, digits: int = 3) -> str:
    """A failing number with ``digits`` decimals, or as many more (up to 8) as it takes to read as failing:
    an upper bound of 0.0003 against tau_out 0 read "0.000", which looked like a pass."""
    for more in range(digits, 9):
        text = f"{value:.{more}f}"
        if (float(text) > limit) if fails_above else (float(text) < limit):
            break
    return text


def percent(value: float, limit: float | None = None, digits: int = 2) -> str:
    """A share as a percentage with ``digits`` decimals, or more where fewer would round a value below
    ``limit`` up to it (``shown``): an accuracy of 98.996% against 99% read "99.00%" on a model that failed."""
    if limit is None or value >= limit:
        return f"{value:.{digits}%}"
    return shown(value * 100, limit * 100, False, digits) + "%"


class GateRejected(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The gate rejected a model: a failure of a gated model, the expected outcome of a control."""


def reject(message: str) -> None:
    raise GateRejected(message, pytrace=False)


def control_mark(why: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=GateRejected, reason=f"negative control, its gate must reject it: {why}")


EXPECTED = {GATED: "PASS", CONTROL: "REJECTED"}  # the verdict each role asks for
_GLOSS = {"REJECTED": " (as a negative control must be)", "ACCEPTED": " (a negative control passed the gate!)"}


def verdict_word(role: str, outcome: str, rejected: bool | None = None) -> str:
    """The gate's verdict on a model at one checkpoint, as a word to filter on: PASS / FAIL (gated),
    REJECTED / ACCEPTED (a negative control), NOT MEANINGFUL (skipped: the model does not do its task).

    ``rejected`` is the gate's own decision, recorded on the checkpoint's row before the item raised. It
    decides where it is known: the pytest outcome alone inverts under ``--runxfail`` (a rejected control
    then reads 'failed'). Without it (rows of an older kind) the outcome is read as the xfail policy sets it."""
    if outcome == "skipped":
        return "NOT MEANINGFUL"
    if role == CONTROL:
        if rejected is not None and outcome in ("xfailed", "failed", "passed", "xpassed"):
            return "REJECTED" if rejected else "ACCEPTED"
        return {"xfailed": "REJECTED", "failed": "ACCEPTED"}.get(outcome, outcome.upper())
    if rejected is not None and outcome in ("passed", "failed"):
        return "FAIL" if rejected or outcome == "failed" else "PASS"
    return {"passed": "PASS", "failed": "FAIL"}.get(outcome, outcome.upper())


def verdict_text(role: str, word: str) -> str:
    """A verdict word as the terminal and the page say it (a control's with why it is good or bad)."""
    return word + _GLOSS.get(word, "") if role == CONTROL else word


def upheld(role: str, word: str) -> bool:
    """Did the model get the verdict its role asks for (a gated model PASS, a control REJECTED)?"""
    return word == EXPECTED.get(role, "PASS")


def not_meaningful(model: str, accuracy: float, min_accuracy: float = MIN_ACCURACY) -> str:
    """Why a model's checkpoint items are skipped: it does not do its task, so its ablations say nothing."""
    return f"not meaningful: {model} matches its HL model on only {percent(accuracy, min_accuracy, 1)} of cells"
