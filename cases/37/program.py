"""InterpBench case 37: each word reversed, except the excluded word "nochange".

"nochange" is not in the vocabulary, so every word is reversed. `program()` builds the RASP program
that tracr compiles into the high-level model (needs the `compile` extra); `reference()` is the same
function in plain Python.
"""
from __future__ import annotations

EXCLUDED = "nochange"


def _reverse(word: str) -> str:
    return word if word == EXCLUDED else word[::-1]


def program():
    from tracr.rasp import rasp

    return rasp.Map(_reverse, rasp.tokens).named("reverse_words")


def reference(body: list) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_reverse(w) for w in body]
