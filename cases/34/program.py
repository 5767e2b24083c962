"""InterpBench case 34: for each token (a word), the ratio of its vowels to its consonants
(letters only; 'y' counts as a consonant; a word without consonants would give 0, none in this vocab).

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations

_VOWELS = set("aeiouAEIOU")


def _ratio(word: str) -> float:
    vowels = sum(c in _VOWELS for c in word)
    consonants = sum(c.isalpha() and c not in _VOWELS for c in word)
    return vowels / consonants if consonants else 0.0


def program():
    """A categorical Map from each word to its vowel/consonant ratio (one class per distinct ratio)."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(_ratio, rasp.tokens)).named("vowel_ratio")


def reference(body: list[str]) -> list[float]:
    """Output class value per body position (BOS excluded)."""
    return [_ratio(w) for w in body]
