"""InterpBench case 35: each word with alternating capitalisation (upper case at even character indices).

`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _alternate(word: str) -> str:
    return "".join(ch.upper() if i % 2 == 0 else ch.lower() for i, ch in enumerate(word))


def program():
    from tracr.rasp import rasp

    return rasp.Map(_alternate, rasp.tokens).named("alternating_caps")


def reference(body: list) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_alternate(w) for w in body]
