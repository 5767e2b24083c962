#!/usr/bin/env bash
# The plugin as a user gets it: build the wheel, install it into a fresh venv outside the checkout, and
# from an empty folder (1) gate a built-in case, (2) gate an InterpBench-layout folder, (3) check that a
# run with nothing to gate exits 4. Run by .ci/run; takes a few minutes (a fresh venv with torch).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$repo/.venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" "$repo"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c "$repo/constraints.txt" "torch==2.13.0"
"$py" -m pip install -q -c "$repo/constraints.txt" "$work"/dist/*.whl
mkdir "$work/empty" "$work/hub"
cp -r "$repo/cases/3/models/siit" "$work/hub/3"
cd "$work/empty"
run() { "$work/venv/bin/pytest" --pyargs pytest_circuit_ablation -p no:cacheprovider -q \
          --ablation-modes=resample --ablation-scales=0.5,1.0 --ablation-inputs=30 "$@"; }
echo "wheel: gating built-in case 3 from an empty folder"
run --ablation-tasks=3 | tail -3
echo "wheel: gating an InterpBench-layout folder"
run --ablation-models="$work/hub" | tail -3
echo "wheel: nothing to gate must exit 4"
set +e
CIRCUIT_ABLATION_CASES="$work/empty" run > "$work/none.log" 2>&1
rc=$?
set -e
tail -1 "$work/none.log"
if [ "$rc" -ne 4 ]; then echo "wheel: expected exit 4 with nothing planned, got $rc" >&2; exit 1; fi
test -z "$(ls -A "$work/empty")" || { echo "wheel: the run wrote into the empty folder: $(ls -A "$work/empty")" >&2; exit 1; }
echo "wheel: ok"
