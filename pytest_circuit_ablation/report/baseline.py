"""Saved effects, to catch drift: ``--ablation-save-baseline=PATH`` stores every effect item's counts,
``--ablation-baseline=PATH`` fails the items whose effect moved by more than
``--ablation-baseline-tol``. Items absent from the baseline are reported, not failed, but a model none of
whose items is in it fails the run (``uncompared_models``). Standard library
only; the file is plain JSON keyed by item id.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..core.values import is_number
from ..errors import AblationError
from .rows import Row

FORMAT = "pytest-circuit-ablation baseline v1"


#: The settings an effect depends on: a baseline saved with other values is refused, not compared.
COMPARED_SETTINGS = ("inputs", "seed", "pca_components", "pca_centre")


def check_settings(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse, naming the setting, a baseline whose numbers were measured under other settings."""
    for key in COMPARED_SETTINGS:
        if saved[key] != current[key]:
            raise AblationError(f"--ablation-baseline {path}: saved with {key} = {saved[key]!r}, this run has "
                                f"{current[key]!r}; compare runs made with the same settings")


def saved_settings(path: Path) -> dict[str, Any]:
    """The settings block of a baseline file (read after ``load`` has validated it)."""
    return json.loads(Path(path).read_text())["settings"]


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The effects of a baseline file, refused in one line unless every part is what ``to_text`` writes."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AblationError(f"--ablation-baseline {path}: file not found") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise AblationError(f"--ablation-baseline {path}: not a baseline file ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("effects"), dict):
        raise AblationError(f"--ablation-baseline {path}: not a baseline file (expected format {FORMAT!r})")
    settings = doc.get("settings")
    missing = [k for k in COMPARED_SETTINGS if not isinstance(settings, dict) or k not in settings]
    if missing:
        raise AblationError(f"--ablation-baseline {path}: its settings block lacks {', '.join(missing)}, so it cannot "
                            "be checked against this run's")
    for item, entry in doc["effects"].items():
        if not isinstance(entry, dict) or "effect" not in entry or not (
                entry["effect"] is None or (is_number(entry["effect"]) and 0 <= entry["effect"] <= 1)):
            raise AblationError(f"--ablation-baseline {path}: entry {item!r} is not {{\"effect\": a share between 0 and 1 or null, ...}}")
    return doc["effects"]


def to_text(rows: list[Row], settings: dict[str, Any]) -> str:
    effects = {
        r["item"]: {"effect": None if _nan(r["effect"]) else r["effect"], "cells_flipped": r["cells_flipped"],
                    "cells_counted": r["cells_counted"]}
        for r in rows if r["kind"] == "effect" and "effect" in r
    }
    doc = {"format": FORMAT, "settings": settings, "effects": dict(sorted(effects.items()))}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def drift(item_id: str, value: float, baseline: dict[str, dict[str, Any]], tol: float) -> tuple[str, float | None]:
    """('absent' | 'ok' | 'drift', the baseline effect)."""
    entry = baseline.get(item_id)
    if entry is None:
        return "absent", None
    old = entry.get("effect")
    if old is None or _nan(value):
        return ("ok" if (old is None) == _nan(value) else "drift"), old
    return ("drift" if abs(value - old) > tol else "ok"), old


def uncompared_models(rows: list[Row]) -> list[str]:
    """Models (``case<task>-<model>``) whose effect rows were all absent from the baseline: compared with
    nothing (a new model, a models folder of another name, a baseline of other models). The run fails for
    them (plugin.py); an item absent beside others that were compared (a new mode or scale) is counted."""
    states: dict[str, set[Any]] = {}
    for r in rows:
        if r.get("kind") == "effect" and r.get("baseline"):
            states.setdefault(f"case{r['task']}-{r['model']}", set()).add(r.get("baseline"))
    return sorted(key for key, seen in states.items() if seen == {"absent"})


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
