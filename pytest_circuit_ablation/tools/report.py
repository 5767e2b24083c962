"""``circuit-ablation-report``: work on written reports without running pytest.

``circuit-ablation-report merge reports-1 reports-2 reports-3 -o reports`` merges the reports of the shards
of one run (``--ablation-shard I/N``, e.g. a CI matrix) into the report a single run would have written
(report/merge.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AblationError

EXAMPLES = """examples:
  pytest --pyargs pytest_circuit_ablation --ablation-report --ablation-report-dir r1 --ablation-shard 1/2
  pytest --pyargs pytest_circuit_ablation --ablation-report --ablation-report-dir r2 --ablation-shard 2/2
  circuit-ablation-report merge r1 r2 -o reports
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="circuit-ablation-report", description="Work on written reports without running pytest.",
                                  epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    merge = commands.add_parser("merge", help="merge shard reports into one report",
                                description="Merge the report folders of a sharded run (--ablation-shard I/N) into "
                                            "one: byte-identical CSVs to a single run's, the same page and figures. "
                                            "Folders with other settings, gate or package versions are refused.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    merge.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="report folders written by the shards")
    merge.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                       help="folder for the merged report (written atomically; may be one of DIR)")
    merge.add_argument("--images", choices=("none", "png", "pdf", "all"), default="png",
                       help="static figures, as --ablation-images (default: png; needs a Chrome/Chromium)")
    return top


def main(argv: list[str] | None = None) -> int:
    from ..suite.settings import IMAGE_CHOICES

    args = parser().parse_args(argv)
    try:
        from ..report.merge import merge

        files, notice = merge(args.folders, args.out, IMAGE_CHOICES[args.images])
    except AblationError as exc:
        print(f"circuit-ablation-report: {exc}", file=sys.stderr)
        return 2
    print(f"merged {len(args.folders)} reports into {args.out} ({len(files)} files)")
    if notice:
        print(notice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
