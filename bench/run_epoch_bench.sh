#!/usr/bin/env bash
# Runs epoch_bench for {xgrad, torch} x {mlp, convnet} x threads {1, 2}, one process per cell (peak
# RSS is per process), and prints a table. xgrad runs in epoch_bench_xgrad, a build of the same
# source without libtorch in the process. For libtorch it tries several settings and both ways of
# holding the data, so that its best can be picked: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
# OMP_WAIT_POLICY (libtorch's intra-op pool is OpenMP (libgomp); its GEMMs go to OpenBLAS, whose
# pthread pool is separate), the same malloc settings xgrad makes for itself (GLIBC_TUNABLES, see
# autograd/malloc_tuning.hpp), and data = float (one float tensor, as torch::data::datasets::MNIST
# holds it) or bytes (a uint8 tensor converted per batch, as xgrad's Dataset does).
#
#   bench/run_epoch_bench.sh [build-dir = build-bench]
#   MLP_BATCHES=0 CONVNET_BATCHES=300 bench/run_epoch_bench.sh     (0 = the whole epoch, 938 batches)
#
# Columns: epoch s = wall time of the training loop, scaled to 938 batches when fewer were run;
# blas = OpenBLAS threads in that process; train peak = VmHWM during training (reset after the data
# was loaded; libtorch builds its tensors from the bytes after the reset, so its copy counts);
# time %M = /usr/bin/time -f %M, which the reset resets too, so it repeats the training peak as a
# cross-check; load peak = VmHWM while loading the data (the same IDX reader for both; libtorch's
# includes the ~150 MB its library makes resident when it is loaded).
set -euo pipefail
build=${1:-build-bench}
mlp_batches=${MLP_BATCHES:-0}
convnet_batches=${CONVNET_BATCHES:-300}
here=$(cd "$(dirname "$0")/.." && pwd)
exe="$here/$build/bench/epoch_bench"
exe_xgrad="$here/$build/bench/epoch_bench_xgrad"
[[ -x $exe ]] || { echo "no $exe (build with -DXGRAD_BUILD_BENCH=ON)"; exit 1; }
[[ -x $exe_xgrad ]] || exe_xgrad=$exe  # without libtorch there is only the one binary
malloc="GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); batches: mlp ${mlp_batches} convnet ${convnet_batches} (0 = all)"
printf '| %-9s | %-5s | %-7s | %-3s | %-66s | %4s | %8s | %8s | %6s | %10s | %10s | %9s |\n' framework data model thr env blas \
  "epoch s" ms/batch loss "train MB" "time %M MB" "load MB"
run() {  # framework data model threads env-assignments...
  local fw=$1 data=$2 model=$3 thr=$4
  shift 4
  local label=${*:-"(defaults)"}
  local batches=$mlp_batches bin=$exe
  [[ $model == convnet ]] && batches=$convnet_batches
  [[ $fw == xgrad ]] && bin=$exe_xgrad
  env "$@" /usr/bin/time -f "MAXRSS %M" -o "$tmp" "$bin" --framework "$fw" --model "$model" --threads "$thr" \
    --batches "$batches" --torch-data "$data" > "$tmp.out"
  local line; line=$(grep '^RESULT' "$tmp.out")
  local maxrss; maxrss=$(awk '/^MAXRSS/ {print $2}' "$tmp")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
  printf '| %-9s | %-5s | %-7s | %-3s | %-66s | %4s | %8.2f | %8.2f | %6.3f | %10.1f | %10.1f | %9.1f |\n' "$fw" \
    "$(get data)" "$model" "$thr" "$label" "$(get openblas_threads)" "$(get epoch_seconds)" "$(get ms_per_batch)" \
    "$(get mean_loss)" "$(bc -l <<< "$(get train_peak_rss_kb)/1024")" "$(bc -l <<< "$maxrss/1024")" \
    "$(bc -l <<< "$(get load_peak_kb)/1024")"
}
torch_runs() {  # model threads env-assignments...: libtorch with its data as floats and as bytes
  local model=$1 thr=$2
  shift 2
  run torch float "$model" "$thr" "$@"
  run torch bytes "$model" "$thr" "$@"
}
for model in mlp convnet; do
  run xgrad bytes "$model" 1
  torch_runs "$model" 1
  torch_runs "$model" 1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  torch_runs "$model" 1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$malloc"
  run xgrad bytes "$model" 2
  torch_runs "$model" 2
  torch_runs "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
  torch_runs "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
  torch_runs "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=passive
  torch_runs "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive "$malloc"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
