#!/usr/bin/env bash
# Runs epoch_bench for {xgrad, torch} x {mlp, convnet} x threads {1, 2}, one process per cell (peak
# RSS is per process), and prints a table. For libtorch it also tries several
# OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / OMP_WAIT_POLICY settings (libtorch's intra-op pool is
# OpenMP (libgomp); its GEMMs go to OpenBLAS, whose pthread pool is separate).
#
#   bench/run_epoch_bench.sh [build-dir = build-bench3]
#   MLP_BATCHES=0 CONVNET_BATCHES=300 bench/run_epoch_bench.sh     (0 = the whole epoch, 938 batches)
#
# Columns: epoch s = wall time of the training loop, scaled to 938 batches when fewer were run;
# blas = OpenBLAS threads in that process; train peak = VmHWM during training (reset after the data
# was loaded); time %M = /usr/bin/time -f %M, which after that reset also reports the training
# peak; load peak = VmHWM while loading the data (the same code for both frameworks).
set -euo pipefail
build=${1:-build-bench3}
mlp_batches=${MLP_BATCHES:-0}
convnet_batches=${CONVNET_BATCHES:-300}
here=$(cd "$(dirname "$0")/.." && pwd)
exe="$here/$build/bench/epoch_bench"
[[ -x $exe ]] || { echo "no $exe (build with -DXGRAD_BUILD_BENCH=ON)"; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); batches: mlp ${mlp_batches:-all} convnet ${convnet_batches} (0 = all)"
printf '| %-9s | %-7s | %-3s | %-56s | %4s | %8s | %8s | %6s | %10s | %10s | %9s |\n' framework model thr env blas \
  "epoch s" ms/batch loss "train MB" "time %M MB" "load MB"
run() {  # framework model threads env-assignments...
  local fw=$1 model=$2 thr=$3
  shift 3
  local label=${*:-"(defaults)"}
  local batches=$mlp_batches
  [[ $model == convnet ]] && batches=$convnet_batches
  env "$@" /usr/bin/time -f "MAXRSS %M" -o "$tmp" "$exe" --framework "$fw" --model "$model" --threads "$thr" \
    --batches "$batches" > "$tmp.out"
  local line; line=$(grep '^RESULT' "$tmp.out")
  local maxrss; maxrss=$(awk '/^MAXRSS/ {print $2}' "$tmp")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
  printf '| %-9s | %-7s | %-3s | %-56s | %4s | %8.2f | %8.2f | %6.3f | %10.1f | %10.1f | %9.1f |\n' "$fw" "$model" "$thr" \
    "$label" "$(get openblas_threads)" "$(get epoch_seconds)" "$(get ms_per_batch)" "$(get mean_loss)" \
    "$(bc -l <<< "$(get train_peak_rss_kb)/1024")" "$(bc -l <<< "$maxrss/1024")" "$(bc -l <<< "$(get load_peak_kb)/1024")"
}
for model in mlp convnet; do
  run xgrad "$model" 1
  run torch "$model" 1
  run torch "$model" 1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  run xgrad "$model" 2
  run torch "$model" 2
  run torch "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
  run torch "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
  run torch "$model" 2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=passive
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
