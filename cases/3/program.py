"""InterpBench case 3, frac_prevs: at each position, the fraction of 'x' tokens so far.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python, used by the tests to check
the stored high-level model without tracr.
"""
from __future__ import annotations

from fractions import Fraction


def program():
    """The RASP program: numerical mean of is_x over all positions j <= i."""
    from tracr.rasp import rasp

    is_x = rasp.numerical(rasp.Map(lambda t: 1 if t == "x" else 0, rasp.tokens)).named("is_x")
    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.numerical(rasp.Aggregate(prefix, is_x, default=0)).named("frac_prevs")


def reference(body: list[str]) -> list[Fraction]:
    """Exact output per body position (BOS excluded)."""
    out, seen = [], 0
    for i, token in enumerate(body):
        seen += token == "x"
        out.append(Fraction(seen, i + 1))
    return out
