"""InterpBench case 33: whether each word has an even number of characters (classes False, True).

`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _is_even(word: str) -> bool:
    return len(word) % 2 == 0


def program():
    from tracr.rasp import rasp

    return rasp.Map(_is_even, rasp.tokens).named("length_is_even")


def reference(body: list) -> list[bool]:
    """Output class value per body position (BOS excluded)."""
    return [_is_even(w) for w in body]
