"""InterpBench case 13: the trend at each position of a sequence of digits: 'increasing', 'decreasing' or
'constant' compared with the previous token (the first position has no predecessor and counts as 'constant').

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _trend(current: str, previous: str) -> str:
    a, b = int(current), int(previous)
    return "increasing" if a > b else "decreasing" if a < b else "constant"


def program():
    """One head copies the previous token (position 0 copies itself); one MLP compares the pair."""
    from tracr.rasp import rasp

    prev_pos = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == max(q - 1, 0))
    previous = rasp.categorical(rasp.Aggregate(prev_pos, rasp.tokens, default=None)).named("previous")
    return rasp.categorical(rasp.SequenceMap(_trend, rasp.tokens, previous)).named("trend")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_trend(t, body[max(i - 1, 0)]) for i, t in enumerate(body)]
