"""InterpBench case 33: whether each token (a word) has an odd or an even number of characters.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _parity(word: str) -> str:
    return "odd" if len(word) % 2 else "even"


def program():
    """A categorical Map from each word to 'odd' / 'even'."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(_parity, rasp.tokens)).named("length_parity")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_parity(w) for w in body]
