"""The per-node diagnosis, in one place: its thresholds, its verdicts and the rule that picks one.

The gate asks one question at its checkpoints (does the circuit separate under resample x 1.0?). The
diagnosis asks what each node *is*, from the whole sweep and two statistics of its activations
(``core.diagnosis``):

* in circuit: **causal** (its side of the gate holds at the first checkpoint) or **weak** (it does not);
* out of circuit (names as written in ``diagnosis.csv``):
  * **leaking**: above tau_out at the first checkpoint (already a gate failure);
  * **constant-load-bearing**: resample x 1.0 does nothing, its activation barely varies across inputs
    (spread <= ``spread_max``), yet some ablation that is not a plain interchange (zero, mean, a scale
    other than 1) moves the output by >= ``load_min``: SIIT made it constant, not irrelevant;
  * **load-bearing**: the same, but the activation varies (spread above ``spread_max``): the output
    ignores which input it came from, not the node itself;
  * **irrelevant**: nothing in the sweep moves the output by ``load_min``;
  * **unmeasured**: the sweep holds no setting that could move it (only interchanges at scale 1), so
    irrelevant and load-bearing cannot be told apart (``--ablation-require-irrelevant`` refuses such a sweep).

By default a diagnosis item fails only when an invariant breaks (a node whose activation is exactly
constant must leave resample x 1.0 an exact no-op; a PCA-degenerate node's ``pca-*-orth`` settings must
change nothing). With ``--ablation-require-irrelevant`` a gated model's constant-load-bearing nodes fail
(leaking ones already fail the gate).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.modes import SOURCE_MODES, is_identity

SPREAD_MAX = 0.05
LOAD_MIN = 0.1

CAUSAL, WEAK = "causal", "weak"
IRRELEVANT, CONSTANT_LOAD, LOAD, LEAKING = "irrelevant", "constant-load-bearing", "load-bearing", "leaking"
UNMEASURED = "unmeasured"
VERDICTS = (CAUSAL, WEAK, IRRELEVANT, CONSTANT_LOAD, LOAD, LEAKING, UNMEASURED)
#: each verdict in a reader's words (the report page's key)
MEANING = {
    CAUSAL: "in circuit, and its side of the gate holds at the checkpoint",
    WEAK: "in circuit, but its side of the gate does not hold at the checkpoint",
    LEAKING: "out of circuit, and above tau_out at the checkpoint (a gate failure)",
    CONSTANT_LOAD: "out of circuit; interchanging it does nothing and its activation barely varies, yet another "
                   "ablation (zero, mean, another scale) moves the output: made constant, not irrelevant",
    LOAD: "out of circuit; interchanging it does nothing, but another ablation moves the output (its activation varies)",
    IRRELEVANT: "nothing in the sweep moves the output",
    UNMEASURED: "the sweep holds no setting that could tell irrelevant from load-bearing",
}
#: verdicts worth a reader's attention (flagged in the banner and the terminal summary). A varying node
#: that only a large scale moves ("load-bearing") is common in trained models and is not flagged.
FLAGGED = frozenset({WEAK, CONSTANT_LOAD, LEAKING})


@dataclass(frozen=True)
class DiagnosisRule:
    spread_max: float = SPREAD_MAX
    load_min: float = LOAD_MIN
    require_irrelevant: bool = False


@dataclass(frozen=True)
class Diagnosis:
    verdict: str
    reason: str
    moved_effect: float | None  # the largest effect of a non-interchange setting
    moved_by: str  # that setting, "mode x scale"

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED


def _moving(mode: str, scale: float) -> bool:
    """Settings that can show a constant node's load: anything but an interchange at scale 1 (a constant
    swapped for itself) and the identity settings."""
    return not (scale == 1.0 and mode in SOURCE_MODES) and not is_identity(mode, scale)


def measures_load(settings) -> bool:
    """Does a sweep of these (mode, scale) settings hold one that can show an out-of-circuit node's load?"""
    return any(_moving(mode, scale) for mode, scale in settings)


def strongest_move(effects: dict[tuple[str, float], float]) -> tuple[float | None, str]:
    """The largest effect over the moving settings, and which one (ties: the first in sweep order)."""
    best, where = None, ""
    for (mode, scale), value in effects.items():
        if _moving(mode, scale) and (best is None or value > best):
            best, where = value, f"{mode} x {scale}"
    return best, where


def diagnose(rule: DiagnosisRule, in_circuit: bool, gate_offence: str | None, spread: float,
             effects: dict[tuple[str, float], float]) -> Diagnosis:
    """One node's verdict. ``gate_offence``: why the node fails its side of the gate at the first
    checkpoint (None: it holds); ``effects``: its effect at every (mode, scale) of the sweep."""
    moved, by = strongest_move(effects)
    if in_circuit:
        if gate_offence:
            return Diagnosis(WEAK, f"in circuit but {gate_offence}", moved, by)
        return Diagnosis(CAUSAL, "in circuit, its side of the gate holds", moved, by)
    if gate_offence:
        return Diagnosis(LEAKING, f"out of circuit and {gate_offence}", moved, by)
    if moved is None:
        return Diagnosis(UNMEASURED, "no setting besides interchanges at scale 1 in the sweep: its load is not measured", moved, by)
    if moved < rule.load_min:
        return Diagnosis(IRRELEVANT, f"no setting moves the output by {rule.load_min} (largest {moved:.4f} at {by})", moved, by)
    if spread <= rule.spread_max:
        return Diagnosis(CONSTANT_LOAD, f"spread {spread:.3g} <= {rule.spread_max}, yet {by} gives effect {moved:.4f} "
                                        f">= {rule.load_min}", moved, by)
    return Diagnosis(LOAD, f"spread {spread:.3g} > {rule.spread_max} and {by} gives effect {moved:.4f} >= {rule.load_min}",
                     moved, by)


def requirement_offence(rule: DiagnosisRule, in_circuit: bool, diagnosis: Diagnosis) -> str | None:
    """Why a node fails under ``--ablation-require-irrelevant``: SIIT made it constant, not irrelevant."""
    if not rule.require_irrelevant or in_circuit or diagnosis.verdict != CONSTANT_LOAD:
        return None
    return f"out-of-circuit node is {diagnosis.verdict} (--ablation-require-irrelevant): {diagnosis.reason}"
