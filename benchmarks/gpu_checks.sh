#!/usr/bin/env bash
# Every check that needs a CUDA GPU, as one prepared run on a GPU machine whose own python3 has PyTorch, numpy,
# pandas, tqdm and pytest (the labs part also needs the notebook tools: nbclient, ipykernel, altair, ipywidgets and
# myst_nb, whose glue the labs call; benchmarks/README.md says how they were carried to a machine without them).
# Results go to $OUT (default build/gpu): summary.txt (machine, then each part's exit status and time), one text file
# per part, and the data files the studies write.
#
#   OUT=/some/dir bash benchmarks/gpu_checks.sh                  # tests, fused-kernel and train benchmarks (minutes)
#   OUT=/some/dir bash benchmarks/gpu_checks.sh fast tests+sweep # parts joined by + run at the same time
#
# Parts: tests fast results bench sweep rlhf labs. PART_TIMEOUT=seconds bounds each part (default 900; exit 124 in
# summary.txt means it was stopped). Run timing parts (fast, bench) alone: parts sharing the GPU slow each other.
# tests: CPU/GPU agreement and the fused kernels compiled for the GPU; fast: benchmarks/bench_gpu.py (fused kernel vs
# eager torch vs torch.compile, goals of 60 ms and 70 ms, launch configurations); results: bench_results.py, train's
# end-to-end time against its fused kernel at B = 1,048,576 (goal: within 1.5x); bench: bench_engine.py on the GPU.
# sweep: chapter 5's stress test at 100,000 instances (tools/run_stress_sweep.py; replaces
# labsupport/data/stress_sweep.csv.gz once checked, see labsupport/data/README.md); rlhf: chapter 6's study at its
# full size (tools/run_rlhf_study.py; labsupport/data/rlhf_study.csv likewise); labs: the lab
# notebooks at full size on the GPU (tools/run_labs.py).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-build/gpu}"
py="${PYTHON:-python3}"
limit="${PART_TIMEOUT:-900}"   # seconds per part: an overrunning part is stopped and the next one still runs
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(tests fast results)
known=" tests fast results bench sweep rlhf labs "
for group in "${parts[@]}"; do  # every name checked before anything runs
  IFS=+ read -ra names <<< "$group"
  for name in "${names[@]}"; do
    case "$known" in *" $name "*) ;; *) echo "unknown part: '$name' (choose from$known; join with +)" \
      | tee -a "$out/summary.txt"; exit 2 ;; esac
  done
done
labs=(notebooks/0*.ipynb)
{ nvidia-smi -L; "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; date -u; } \
  2>&1 | tee -a "$out/summary.txt"

part() {  # one part, its log in $out; prints "part NAME: exit RC after S s" to summary.txt
  local start=$SECONDS rc
  case "$1" in
    tests) timeout "$limit" "$py" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_fused.py tests/test_verifiable.py \
             tests/test_core.py tests/test_categorize.py > "$out/tests.txt" 2>&1 ;;
    fast)  timeout "$limit" "$py" benchmarks/bench_gpu.py --configs --reference > "$out/bench_gpu.txt" 2>&1 ;;
    results) timeout "$limit" "$py" benchmarks/bench_results.py --device cuda --backend fused --batch 1048576 \
             --steps 1000 > "$out/bench_results.txt" 2>&1 ;;
    bench) timeout "$limit" "$py" benchmarks/bench_engine.py --device cuda > "$out/bench_engine.txt" 2>&1 ;;
    sweep) timeout "$limit" "$py" tools/run_stress_sweep.py --instances 100000 --device cuda \
             --out "$out/stress_sweep_100k.csv.gz" > "$out/sweep.txt" 2>&1 ;;
    rlhf)  timeout "$limit" "$py" tools/run_rlhf_study.py --size full --device cuda --out "$out/rlhf_study_full.csv" \
             > "$out/rlhf.txt" 2>&1 ;;
    labs)  timeout "$limit" "$py" tools/run_labs.py "${labs[@]}" > "$out/labs.txt" 2>&1 ;;
  esac
  rc=$?
  echo "part $1: exit $rc after $((SECONDS - start)) s" | tee -a "$out/summary.txt"
  return $rc
}

status=0
for group in "${parts[@]}"; do
  pids=()
  IFS=+ read -ra names <<< "$group"
  for name in "${names[@]}"; do part "$name" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
done
exit $status
