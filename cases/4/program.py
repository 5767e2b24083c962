"""InterpBench case 4: at each position, the fraction of '(' tokens so far minus the fraction of ')' tokens so far.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python, used by the tests to check
the stored high-level model without tracr.
"""
from __future__ import annotations

from fractions import Fraction


def program():
    """Two numerical prefix means (one per bracket kind), then their difference."""
    from tracr.rasp import rasp

    is_open = rasp.numerical(rasp.Map(lambda t: 1 if t == "(" else 0, rasp.tokens)).named("is_open")
    is_close = rasp.numerical(rasp.Map(lambda t: 1 if t == ")" else 0, rasp.tokens)).named("is_close")
    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    frac_open = rasp.numerical(rasp.Aggregate(prefix, is_open, default=0)).named("frac_open")
    frac_close = rasp.numerical(rasp.Aggregate(prefix, is_close, default=0)).named("frac_close")
    return rasp.numerical(rasp.LinearSequenceMap(frac_open, frac_close, 1, -1)).named("open_minus_close")


def reference(body: list[str]) -> list[Fraction]:
    """Exact output per body position (BOS excluded)."""
    out, opened, closed = [], 0, 0
    for i, token in enumerate(body):
        opened += token == "("
        closed += token == ")"
        out.append(Fraction(opened - closed, i + 1))
    return out
