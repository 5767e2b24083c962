"""InterpBench case 34: each word's number of vowels divided by its number of consonants.

The outputs are classes (floats: 0.0, 1/3, 0.4, 2/3, 1.0 for this vocabulary); a word without
consonants would give infinity, and none in the vocabulary has none. `program()` builds the RASP
program that tracr compiles into the high-level model (needs the `compile` extra); `reference()` is
the same function in plain Python.
"""
from __future__ import annotations


def _vowel_ratio(word: str) -> float:
    vowels = sum(ch in "aeiou" for ch in word.lower())
    consonants = len(word) - vowels
    return vowels / consonants if consonants else float("inf")


def program():
    from tracr.rasp import rasp

    return rasp.Map(_vowel_ratio, rasp.tokens).named("vowel_consonant_ratio")


def reference(body: list) -> list[float]:
    """Output class value per body position (BOS excluded)."""
    return [_vowel_ratio(w) for w in body]
