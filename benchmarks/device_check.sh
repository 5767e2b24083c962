#!/usr/bin/env bash
# The CUDA path on a lent GPU machine, in one call (issue 17, item 4). CI never runs this; it has never
# run on a GPU yet (no session has been lent one).
#
#   here, once:  bash benchmarks/device_check.sh --fetch
#                  ~14 MB of wheels into .whl/ (git-ignored): TransformerLens and the few packages it
#                  imports that the GPU image lacks, and plotly; the versions this checkout's .venv has
#   there:       the device tool's `run` with carry [".whl"], timeout_s 540 and the command
#                  bash benchmarks/device_check.sh
#
# There it installs the wheels into /tmp/site without dependencies (the image has torch, transformers,
# pandas, scikit-learn, pytest and pytest-xdist) and writes $OUT/device.log:
#   1. the GPU and torch;
#   2. the gate on cases 3 and 14 on cuda and on cpu, and whether every item's counts agree (the same
#      numbers on both devices is the product's promise);
#   3. benchmarks/bench_engine.py --case all --device cuda: each built-in case's whole sweep on the GPU
#      and its counts against the float64 oracle on 2% of the settings (one summary line per case).
# Each step has its own time limit, so a slow one leaves the others their time.
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=(transformer-lens beartype better-abc datasets dill fancy-einsum multiprocess typeguard plotly)

if [[ "${1:-}" == "--fetch" ]]; then
    pins=()
    for name in "${WHEELS[@]}"; do
        version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))") || exit 1
        pins+=("$name==$version")
    done
    grep -qx '/.whl/' .gitignore 2>/dev/null || { echo "error: .whl/ must be in .gitignore" >&2; exit 1; }
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl "${pins[@]}" || exit 1
    du -sh .whl
    exit 0
fi

OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
LOG="$OUT/device.log"
export PYTHONUNBUFFERED=1
{
    echo "== 1. the machine"
    nvidia-smi -L
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
    python3 -c "import transformer_lens, plotly, pytest_circuit_ablation; print('imports ok')" || exit 1

    echo "== 2. the gate on cases 3 and 14, cuda against cpu"
    plugin=(-p pytest_circuit_ablation.plugin)  # the checkout is on PYTHONPATH, not installed: no entry point
    python3 -c "import importlib.metadata as m; m.version('pytest-circuit-ablation')" 2>/dev/null && plugin=()
    gate=(python3 -m pytest "${plugin[@]}" -p no:cacheprovider --pyargs pytest_circuit_ablation
          --ablation-tasks=3,14 --ablation-report --ablation-images=none -q -n 8)
    for device in cuda cpu; do
        start=$SECONDS
        timeout 150 "${gate[@]}" --ablation-device=$device --ablation-report-dir="$OUT/$device" | tail -4
        echo "$device gate: $((SECONDS - start)) s wall"
    done
    python3 - "$OUT" <<'EOF'
import csv, sys
out = sys.argv[1]
def counts(device):
    with open(f"{out}/{device}/ablation.csv", newline="") as f:
        return {r["item"]: (r["cells_counted"], r["cells_flipped"]) for r in csv.DictReader(f)}
cuda, cpu = counts("cuda"), counts("cpu")
differ = [k for k in cpu if cuda.get(k) != cpu[k]]
print(f"items {len(cpu)} on cpu, {len(cuda)} on cuda; counts differ on {len(differ)}", differ[:5])
EOF

    echo "== 3. every case's sweep on the GPU, counts against the oracle"
    timeout 300 python3 benchmarks/bench_engine.py --case all --device cuda --oracle-share 0.02 --repeat 2 \
        | grep -E '^(case |engine:|counts identical|normalised|summary)'
} 2>&1 | tee "$LOG"
