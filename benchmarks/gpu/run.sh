#!/usr/bin/env bash
# The GPU checks of issue 7, one step per command, each well under the lent machine's 10-minute limit:
#
#   bash benchmarks/gpu/run.sh setup      # install carried wheels, build + load the CUDA kernels (sm_90)
#   bash benchmarks/gpu/run.sh tests      # the whole test suite, CUDA tests included
#   bash benchmarks/gpu/run.sh sanitizer  # compute-sanitizer memcheck + racecheck over the CUDA op tests
#   bash benchmarks/gpu/run.sh bench      # benchmarks/ops.py on the GPU: fp32/bf16/fp16, small to 4K
#   bash benchmarks/gpu/run.sh profile    # Nsight Compute on the adapool2d kernels at 1x64x2160x3840
#   bash benchmarks/gpu/run.sh all        # every step in order (about 15-25 min: split it over calls)
#
# Every step begins with `setup` (cheap once the kernels are cached in $ADAUNPOOL_BUILD_DIR) and writes
# its log and results into $OUT (the device tool's output folder) or out/gpu. Before the first call,
# run benchmarks/gpu/fetch_wheels.sh here and pass `carry: [".whl"]` to the device tool.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 ADAUNPOOL_BACKEND=compiled
export ADAUNPOOL_BUILD_DIR="${ADAUNPOOL_BUILD_DIR:-/tmp/adaunpool-build}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
PY="${PYTHON:-python3}"

setup() {
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"
  "$PY" -m adaunpool.build --cuda --load 2>&1 | tail -n 3 | tee -a "$OUT/gpu.txt"
}

tests() {
  setup
  "$PY" -m pytest -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/tests.log" | tail -n 25
}

sanitizer() {
  setup
  # small shapes only: the sanitizer slows kernels down a hundredfold
  local sel="not 4k and not gradcheck and not compile and not stream"
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --target-processes all --error-exitcode 3 \
      "$PY" -m pytest -q -p no:cacheprovider tests/test_ops_cuda.py -k "$sel" -x 2>&1 | tee "$OUT/sanitizer-$tool.log" | tail -n 15
  done
}

bench() {
  setup
  "$PY" benchmarks/ops.py --device cuda --dtype fp32,bf16,fp16 --markdown --json "$OUT/bench-cuda.json" 2>&1 \
    | tee "$OUT/bench-cuda.md" | tail -n 60
}

profile() {
  setup
  ncu --target-processes all --clock-control none --set full -k 'regex:forward_kernel|backward_kernel|channel|window' \
    -c 8 -o "$OUT/adapool2d" -f \
    "$PY" benchmarks/ops.py --device cuda --ops adapool2d --sizes 1x64x2160x3840 --dtype fp32 \
      --repeat 1 --warmup 0 --no-reference --no-memory 2>&1 | tail -n 20
  ncu --import "$OUT/adapool2d.ncu-rep" --page details > "$OUT/adapool2d-ncu.txt" 2>&1 || true
  grep -E "^  [a-z_]+.*\(|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Registers Per Thread|Achieved Occupancy" \
    "$OUT/adapool2d-ncu.txt" | head -n 80
}

case "${1:-}" in
  setup) setup ;;
  tests) tests ;;
  sanitizer) sanitizer ;;
  bench) bench ;;
  profile) profile ;;
  all) tests; sanitizer; bench; profile ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
