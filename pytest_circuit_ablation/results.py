"""The report's tables as pandas DataFrames with typed columns, for analysis in a notebook or a script::

    from pytest_circuit_ablation import results
    tables = results.read("reports")
    tables["ablation"].query("gate_role == 'gate'").groupby("status").effect.max()   # worst node at the gate

``read`` returns ``ablation``, ``separation`` and ``models`` (one frame per CSV the report writes);
``to_csv`` writes a frame back through the report's own CSV writer, byte for byte as the report wrote it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .report import EFFECT_COLUMNS, MODEL_COLUMNS, SEPARATION_COLUMNS

TABLES = {"ablation": EFFECT_COLUMNS, "separation": SEPARATION_COLUMNS, "models": MODEL_COLUMNS}
_INTS = {"layer", "cells_counted", "cells_flipped", "n_in", "n_out", "cells", "wrong", "train_steps"}
_FLOATS = {"scale", "effect", "hl_effect", "kl_effect", "ci_low", "ci_high", "auroc", "margin", "accuracy",
           "train_accuracy", "train_iia", "train_strict_accuracy", "train_seconds"}


def dtype(column: str) -> str:
    """pandas dtype of a report column: nullable ints, floats, else strings (case ids and heads included)."""
    return "Int64" if column in _INTS else "float64" if column in _FLOATS else "string"


def read(folder: str | Path) -> dict[str, Any]:
    """Every table of a report folder as a typed DataFrame (floats parsed to the exact value written)."""
    import pandas as pd

    folder = Path(folder)
    frames = {}
    for name, columns in TABLES.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a report folder (run pytest with --ablation-report)")
        frame = pd.read_csv(path, dtype={c: ("float64" if c in _FLOATS else "string") for c in columns},
                            keep_default_na=False, na_values={c: [""] for c in columns}, float_precision="round_trip")
        for column in columns:
            if column in _INTS:
                frame[column] = frame[column].astype("Int64")
        frames[name] = frame[columns]
    return frames


def _value(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


def to_csv(frame, name: str) -> str:
    """The CSV text of one table, through the report's writer (so ``to_csv(read(f)[n], n)`` is the file)."""
    from .report import to_csv as write

    columns = TABLES[name]
    records = [{c: _value(v) for c, v in zip(columns, row)} for row in frame[columns].itertuples(index=False)]
    return write(records, columns)
