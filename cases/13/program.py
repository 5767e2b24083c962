"""InterpBench case 13 (at circuits-benchmark HEAD): the trend from each integer token to the **next** one:
'increasing' when the next is larger, 'decreasing' when smaller, 'constant' when equal.

The last position has no next token: the program gives None there and the compiled model's output is
the label. Bidirectional (a position must see the one after it). `program()` builds the RASP program
that tracr compiles into the high-level model (needs the `compile` extra); `reference()` is the same
function in plain Python.
"""
from __future__ import annotations


def _trend(current: int, following: int) -> str:
    if current < following:
        return "increasing"
    if current > following:
        return "decreasing"
    return "constant"


def program():
    """One head fetches the next token (None at the end); one MLP compares the pair."""
    from tracr.rasp import rasp

    next_position = rasp.Select(rasp.indices, rasp.indices, lambda key, query: key == query + 1).named("next_position")
    following = rasp.Aggregate(next_position, rasp.tokens, default=None).named("next_token")
    return rasp.SequenceMap(_trend, rasp.tokens, following).named("trend")


def reference(body: list) -> list:
    """Output class value per body position (BOS excluded); None where the program gives None."""
    return [_trend(t, body[i + 1]) if i + 1 < len(body) else None for i, t in enumerate(body)]
