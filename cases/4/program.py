"""InterpBench case 4: at each position, the fraction of '(' tokens so far minus the fraction of ')' tokens so far.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python. The program has InterpBench's
structure: two numerical prefix means of a boolean map (one per bracket), then their difference.
"""
from __future__ import annotations

from fractions import Fraction


def _prefix_fraction(flags):
    from tracr.rasp import rasp

    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.numerical(rasp.Aggregate(prefix, flags, default=0))


def program():
    from tracr.rasp import rasp

    is_open = rasp.numerical(rasp.tokens == "(").named("is_open")
    opened = _prefix_fraction(is_open).named("frac_open")
    is_close = rasp.numerical(rasp.tokens == ")").named("is_close")
    closed = _prefix_fraction(is_close).named("frac_close")
    return rasp.numerical(rasp.LinearSequenceMap(opened, closed, 1, -1)).named("open_minus_close")


def reference(body: list) -> list[Fraction]:
    """Exact output per body position (BOS excluded)."""
    out, opened, closed = [], 0, 0
    for i, token in enumerate(body):
        opened += token == "("
        closed += token == ")"
        out.append(Fraction(opened - closed, i + 1))
    return out
