"""Writing files so that a reader never sees half of one: models, PCA cache entries and report folders;
and reading them back: what a JSON file's error says."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_all(folder: Path, files: dict[str, bytes]) -> None:
    """Write every file to a temporary name beside its target first, then move them all into place: an
    interrupted or failing write leaves the previous files whole. Names may contain subfolders."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:  # a folder where a file goes would fail its move after others were replaced
        if (folder / name).is_dir():
            raise IsADirectoryError(21, "a folder is in the way", str(folder / name))
    staged = []
    try:
        for name, data in files.items():
            final = folder / name
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """One file, all or nothing (the same bytes for the same key, so concurrent writers agree)."""
    path = Path(path)
    write_all(path.parent, {path.name: data})


def writable_problem(folder: Path) -> str | None:
    """Can files be written in this folder? So that a command refuses a bad output folder before its work,
    not after. An existing folder is proven with a test file; a missing one by a test folder made and
    removed in its nearest existing parent (permission bits say nothing to root, nor about /proc or a
    read-only mount), so nothing is left: a run that ends up writing nothing (``--ablation-report`` in a
    project without the suite) leaves no empty folder behind (``write_all`` makes it when it writes).
    None when it can; else why not, in a few words."""
    folder = Path(folder)
    try:
        if not folder.exists():
            parent = next((p for p in folder.parents if p.exists()), None)
            if parent is None or not parent.is_dir():
                return f"cannot write to {folder} ({parent} is not a folder)"
            try:
                probe = tempfile.mkdtemp(dir=parent, prefix=".write-test-")
            except OSError as exc:
                return f"cannot write to {folder} (cannot make a folder in {parent}: {exc.strerror or exc})"
            os.rmdir(probe)  # an error here falls to the guard below, naming what went wrong
            return None
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"cannot write to {folder} ({exc.strerror or exc})"
    return None


def json_problem(exc: json.JSONDecodeError) -> str:
    """Where and what, in a few words: some of json's messages end in "at" ("Invalid control character
    at"), meant to be followed by the position."""
    what = exc.msg[: -len(" at")] if exc.msg.endswith(" at") else exc.msg
    return f"{what} at line {exc.lineno}, column {exc.colno}"
