"""InterpBench case 35: each token (a word) with its letters' capitalisation alternating, upper case
first (``poiVg`` -> ``PoIvG``).

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _alternate(word: str) -> str:
    return "".join(c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(word))


def program():
    """A categorical Map from each word to its alternating-case form."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(_alternate, rasp.tokens)).named("alternate_case")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_alternate(w) for w in body]
