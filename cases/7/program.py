"""InterpBench case 7: at each position, how many times that position's token occurs in the whole input.

Bidirectional: every position sees the whole input. `program()` builds the RASP program that tracr
compiles into the high-level model (needs the `compile` extra); `reference()` is the same function
in plain Python.
"""
from __future__ import annotations


def program():
    """SelectorWidth of the same-token selector."""
    from tracr.rasp import rasp

    same_token = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("same_token")
    return rasp.SelectorWidth(same_token).named("token_count")


def reference(body: list) -> list[int]:
    """Output class value per body position (BOS excluded)."""
    return [body.count(token) for token in body]
