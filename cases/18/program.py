"""InterpBench case 18: classify each token by how often it occurs in the input: once -> 'rare',
twice -> 'common', three or more times -> 'frequent'.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _frequency_class(count: int) -> str:
    return "rare" if count <= 1 else "common" if count == 2 else "frequent"


def program():
    """SelectorWidth of the same-token selector (non-causal), then a Map to the three classes."""
    from tracr.rasp import rasp

    same_token = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ)
    count = rasp.categorical(rasp.SelectorWidth(same_token)).named("token_count")
    return rasp.categorical(rasp.Map(_frequency_class, count)).named("frequency_class")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_frequency_class(body.count(token)) for token in body]
