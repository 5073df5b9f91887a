#!/usr/bin/env bash
# Every check that needs a CUDA GPU, as one prepared run on a GPU machine whose own python3 has PyTorch, numpy,
# pandas, tqdm and pytest (labsupport's other dependencies are not needed for these parts). Results go to $OUT
# (default build/gpu), one text file per part plus the data files the studies write.
#
#   OUT=/some/dir bash benchmarks/gpu_checks.sh                 # tests and the fused-kernel benchmark (a few minutes)
#   OUT=/some/dir bash benchmarks/gpu_checks.sh tests sweep     # any of: tests fast bench sweep rlhf
#
# PART_TIMEOUT=seconds bounds each part (default 900; exit 124 in summary.txt means it was stopped).
# tests: CPU/GPU agreement and the fused kernel compiled for the GPU; fast: benchmarks/bench_gpu.py (fused kernel vs
# eager torch vs torch.compile, goals of 60 ms and 70 ms, launch configurations); bench: bench_engine.py on the GPU.
# sweep: chapter 5's stress test at 100,000 instances (replaces book/data/stress_sweep.csv.gz once checked, see
# book/data/README.md); rlhf: chapter 6's study at its full size (book/data/rlhf_study.csv likewise).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-build/gpu}"
py="${PYTHON:-python3}"
limit="${PART_TIMEOUT:-900}"   # seconds per part: an overrunning part is stopped and the next one still runs
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(tests fast)
{ nvidia-smi -L; "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; date -u; } \
  2>&1 | tee "$out/machine.txt"
status=0
for part in "${parts[@]}"; do
  start=$SECONDS
  case "$part" in
    tests) timeout "$limit" "$py" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_fused.py tests/test_verifiable.py \
             tests/test_core.py tests/test_categorize.py 2>&1 | tee "$out/tests.txt" ;;
    fast)  timeout "$limit" "$py" benchmarks/bench_gpu.py --configs 2>&1 | tee "$out/bench_gpu.txt" ;;
    bench) timeout "$limit" "$py" benchmarks/bench_engine.py --device cuda 2>&1 | tee "$out/bench_engine.txt" ;;
    sweep) timeout "$limit" "$py" benchmarks/run_stress_sweep.py --instances 100000 --device cuda \
             --out "$out/stress_sweep_100k.csv.gz" 2>&1 | tail -n 40 | tee "$out/sweep.txt" ;;
    rlhf)  timeout "$limit" "$py" benchmarks/run_rlhf_study.py --size full --device cuda --out "$out/rlhf_study_full.csv" 2>&1 \
             | tail -n 40 | tee "$out/rlhf.txt" ;;
    *) echo "unknown part: $part (choose from tests fast bench sweep rlhf)"; status=2; continue ;;
  esac
  rc=${PIPESTATUS[0]}
  echo "part $part: exit $rc after $((SECONDS - start)) s" | tee -a "$out/summary.txt"
  [ "$rc" = 0 ] || status=1
done
exit $status
