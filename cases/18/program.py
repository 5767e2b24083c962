"""InterpBench case 18: each token's frequency class: 'frequent' when it occurs more than n/2 times,
'common' when more than n/4 times, else 'rare', where n is the input's length (BOS excluded).

Bidirectional, and the classes are relative to the length: a shorter input is a different task.
`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _frequency_class(count: int, length: int) -> str:
    if count > length / 2:
        return "frequent"
    if count > length / 4:
        return "common"
    return "rare"


def program():
    """Two SelectorWidths (the token's count, the input's length), then one MLP to the class."""
    from tracr.rasp import rasp

    same_token = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("same_token")
    count = rasp.SelectorWidth(same_token).named("token_count")
    everything = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE).named("everything")
    length = rasp.SelectorWidth(everything).named("length")
    return rasp.SequenceMap(_frequency_class, count, length).named("frequency_class")


def reference(body: list) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_frequency_class(body.count(token), len(body)) for token in body]
