"""InterpBench case 14: the number of 'a' tokens in the input, the same at every position.

Bidirectional. `program()` builds the RASP program that tracr compiles into the high-level model
(needs the `compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def program():
    """SelectorWidth of a selector that picks every 'a' key, whatever the query."""
    from tracr.rasp import rasp

    a_keys = rasp.Select(rasp.tokens, rasp.tokens, lambda key, query: key == "a").named("a_keys")
    return rasp.SelectorWidth(a_keys).named("count_a")


def reference(body: list) -> list[int]:
    """Output class value per body position (BOS excluded)."""
    return [body.count("a")] * len(body)
