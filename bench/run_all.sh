#!/usr/bin/env bash
# One command that guards the speed figures (issue 17, section 4): configures and builds the benchmarks in a
# build directory of their own, runs every one of them side by side with libtorch when find_package(Torch) found it
# (xgrad alone otherwise), times the compile of a user translation unit and the rebuild after a one-op change, and
# prints one table of medians and ratios xgrad / libtorch.
#
#   bench/run_all.sh [--quick] [--no-torch] [--build-dir DIR]      (from anywhere; DIR default build-bench-all)
#
#   --quick      fewer repetitions and batches (a smoke run, a few minutes): the figures are noisier
#   --no-torch   configure with CMAKE_DISABLE_FIND_PACKAGE_Torch=ON: xgrad alone even where libtorch is installed
#
# Rows (medians of wall-clock times; the ratio column is xgrad / libtorch, below 1 = xgrad faster or smaller):
#   per op       per_op_overhead 200000 REPS: fwd + bwd + free of one op in a chain of 200,000 one-element ops, 1 thread
#   epochs       epoch_bench, one process per run, the median of EPOCH_REPS runs per cell. The MLP runs the whole
#                epoch (938 batches; 300 with --quick, scaled); the ConvNet 300 batches (100 with --quick), its time
#                scaled to 938 batches, as in bench/README.md. xgrad runs in epoch_bench_xgrad (no libtorch in the
#                process). libtorch: data as bytes, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=1, with glibc's
#                default malloc and with xgrad's malloc settings (GLIBC_TUNABLES); its faster setting is taken (its
#                best settings in bench/run_epoch_bench.sh's full sweep).
#   peak memory  train_peak_rss_kb of the 1-thread epoch runs (VmHWM during training; median over the runs,
#                libtorch's lowest setting)
#   conv2d       conv_bench REPS 1,2; lstm: lstm_bench REPS. Both run with xgrad's malloc settings in the
#                environment, so libtorch gets them too ("tuned for both" in bench/README.md)
#   compile      the README's example (examples/readme_example.cpp) compiled as a user TU with the exact command
#                CMake uses (compile_commands.json: -O3, -march, xsimd, include dirs), ccache off (CCACHE_DISABLE=1),
#                one core; next to a libtorch hello-world (#include <torch/torch.h>) compiled with the command of a
#                bench torch TU when libtorch was found. Median of COMPILE_REPS; user+sys CPU printed below the table
#   rebuild      touch ops/arithmetic.cpp, then rebuild the xgrad library target, ccache off (wall time of
#                cmake --build; the time spent waiting for the shared build lock is not counted)
#
# Builds always go through `flock /tmp/xgrad-build.lock cmake --build ...` (the machine's cores are shared with CI).
# Environment overrides: REPS (per_op/conv/lstm), EPOCH_REPS, COMPILE_REPS, MLP_BATCHES, CONVNET_BATCHES,
# XGRAD_BENCH_DATA (Fashion-MNIST directory, default /usr/share/datasets/fashion-mnist).
set -euo pipefail
shopt -s inherit_errexit

quick=0
no_torch=0
build="build-bench-all"
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --no-torch) no_torch=1 ;;
    --build-dir) build=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (--quick, --no-torch, --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

if ((quick)); then
  reps=${REPS:-3} epoch_reps=${EPOCH_REPS:-1} compile_reps=${COMPILE_REPS:-1}
  mlp_batches=${MLP_BATCHES:-300} convnet_batches=${CONVNET_BATCHES:-100}
else
  reps=${REPS:-7} epoch_reps=${EPOCH_REPS:-3} compile_reps=${COMPILE_REPS:-3}
  mlp_batches=${MLP_BATCHES:-0} convnet_batches=${CONVNET_BATCHES:-300}
fi
data_dir=${XGRAD_BENCH_DATA:-/usr/share/datasets/fashion-mnist}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[[ $build == /* ]] || build="$root/$build"
lock=/tmp/xgrad-build.lock
malloc="GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log() { echo "[run_all] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)
started=$(date '+%Y-%m-%d %H:%M %Z')

# ---- configure and build -------------------------------------------------------------------------------------------
disable_torch=OFF
((no_torch)) && disable_torch=ON
log "configuring $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_BENCH=ON -DXGRAD_BUILD_TESTS=OFF \
  -DXGRAD_BUILD_EXAMPLES=ON -DXGRAD_WITH_MPI=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=$disable_torch > "$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; exit 1; }
have_torch=0
grep -q 'libtorch .* found, comparing' "$tmp/configure.log" && have_torch=1
torch_version=$(sed -n 's/.*xgrad bench: libtorch \([^ ]*\) found.*/\1/p' "$tmp/configure.log")
targets=(xgrad per_op_overhead conv_bench epoch_bench lstm_bench readme_example)
((have_torch)) && targets+=(epoch_bench_xgrad)
log "building ${targets[*]} (waiting for $lock if another build holds it)"
flock "$lock" cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" > "$tmp/build.log" 2>&1 ||
  { tail -50 "$tmp/build.log" >&2; exit 1; }
bin="$build/bench"
exe_xgrad="$bin/epoch_bench"
((have_torch)) && exe_xgrad="$bin/epoch_bench_xgrad"

# ---- helpers -------------------------------------------------------------------------------------------------------
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {
  if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
ratio() {  # xgrad torch -> xgrad/torch, or "-"
  if [[ $1 == - || $2 == - || -z $1 || -z $2 ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; fi
}
fmt() { [[ $2 == - || -z $2 ]] && { echo -; return; }; awk -v v="$2" -v f="$1" 'BEGIN {printf f, v}'; }

# ---- per-op overhead -----------------------------------------------------------------------------------------------
log "per_op_overhead 200000 $reps"
which=both
((have_torch)) || which=xgrad
OPENBLAS_NUM_THREADS=1 "$bin/per_op_overhead" 200000 "$reps" "$which" > "$tmp/per_op.out"
per_op_row() {  # name -> total ns per op, wall clock
  awk -v n="$1" '/^ns per op, wall clock/ {w = 1} /^ns per op, thread CPU/ {w = 0} w && $1 == n {print $5}' \
    "$tmp/per_op.out"
}
op_x=$(per_op_row xgrad)
op_t=-
((have_torch)) && op_t=$(per_op_row libtorch)

# ---- epochs --------------------------------------------------------------------------------------------------------
epoch_run() {  # framework model threads env... -> "epoch_seconds train_peak_mb"
  local fw=$1 model=$2 thr=$3 exe=$bin/epoch_bench batches=$mlp_batches
  shift 3
  [[ $fw == xgrad ]] && exe=$exe_xgrad
  [[ $model == convnet ]] && batches=$convnet_batches
  local line
  line=$(env "$@" "$exe" --framework "$fw" --model "$model" --threads "$thr" --batches "$batches" --data "$data_dir" \
    --torch-data bytes | grep '^RESULT')
  awk '{for (i = 1; i <= NF; ++i) {split($i, kv, "="); v[kv[1]] = kv[2]}
        printf "%s %.1f\n", v["epoch_seconds"], v["train_peak_rss_kb"] / 1024}' <<< "$line"
}
epoch_cell() {  # framework model threads env... -> "median_seconds median_peak_mb" over epoch_reps runs
  local s=() m=() r out
  for ((r = 0; r < epoch_reps; ++r)); do
    out=$(epoch_run "$@")
    s+=("${out% *}") m+=("${out#* }")
  done
  echo "$(echo "${s[*]}" | median) $(echo "${m[*]}" | median)"
}
declare -A ep_x ep_t mem_x mem_t
have_data=1
[[ -f $data_dir/train-images-idx3-ubyte.gz || -f $data_dir/train-images-idx3-ubyte ]] || have_data=0
for model in mlp convnet; do
  for thr in 1 2; do
    ep_x[$model$thr]=- mem_x[$model$thr]=- ep_t[$model$thr]=- mem_t[$model$thr]=-
    ((have_data)) || continue
    log "epoch_bench $model, $thr thread(s), $epoch_reps run(s) per setting"
    out=$(epoch_cell xgrad "$model" "$thr")
    ep_x[$model$thr]=${out% *} mem_x[$model$thr]=${out#* }
    if ((have_torch)); then
      a=$(epoch_cell torch "$model" "$thr" OMP_NUM_THREADS="$thr" OPENBLAS_NUM_THREADS=1)
      b=$(epoch_cell torch "$model" "$thr" OMP_NUM_THREADS="$thr" OPENBLAS_NUM_THREADS=1 "$malloc")
      ep_t[$model$thr]=$(echo "${a% *} ${b% *}" | minimum)
      mem_t[$model$thr]=$(echo "${a#* } ${b#* }" | minimum)
    fi
  done
done

# ---- conv2d and LSTM -----------------------------------------------------------------------------------------------
log "conv_bench $reps 1,2"
env "$malloc" "$bin/conv_bench" "$reps" 1,2 > "$tmp/conv.out"
conv_row() {  # threads name -> total ms
  awk -v t="--- $1 thread(s) ---" -v n="$2" '$0 == t {w = 1; next} /^--- / {w = 0} w && $1 == n {print $4}' \
    "$tmp/conv.out"
}
log "lstm_bench $reps"
env "$malloc" "$bin/lstm_bench" "$reps" > "$tmp/lstm.out"
lstm_row() { awk -v n="$1" '$1 == n {print $4}' "$tmp/lstm.out"; }
conv_x1=$(conv_row 1 xgrad) conv_x2=$(conv_row 2 xgrad) lstm_x=$(lstm_row xgrad)
conv_t1=- conv_t2=- lstm_t=-
if ((have_torch)); then conv_t1=$(conv_row 1 libtorch) conv_t2=$(conv_row 2 libtorch) lstm_t=$(lstm_row libtorch); fi

# ---- compile time of a user translation unit -----------------------------------------------------------------------
# The compile command CMake uses for SOURCE, with the launcher (ccache) dropped and the object written to OUT;
# the source can be swapped for another file (the torch hello-world takes a bench torch TU's command).
compile_command() {  # source-in-compile_commands out [replacement-source]
  python3 - "$build/compile_commands.json" "$@" << 'EOF'
import json, shlex, sys
db, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
repl = sys.argv[4] if len(sys.argv) > 4 else None
for e in json.load(open(db)):
    if e["file"].endswith(src):
        args = shlex.split(e["command"])
        if "ccache" in args[0]:
            args = args[1:]
        args[args.index("-o") + 1] = out
        if "-MF" in args:  # the depfile too, so that nothing in the build tree changes
            args[args.index("-MF") + 1] = out + ".d"
        if repl:
            args = [repl if a == e["file"] else a for a in args]
        print(e["directory"])
        print(shlex.join(args))
        break
EOF
}
time_compile() {  # source-in-db [replacement] -> "median_wall_s median_cpu_s" over compile_reps
  local spec dir cmd w=() c=() r
  spec=$(compile_command "$1" "$tmp/user_tu.o" "${2:-}")
  [[ -n $spec ]] || { echo "- -"; return; }
  dir=$(head -1 <<< "$spec") cmd=$(tail -1 <<< "$spec")
  for ((r = 0; r < compile_reps; ++r)); do
    (cd "$dir" && CCACHE_DISABLE=1 /usr/bin/time -f '%e %U %S' -o "$tmp/time" bash -c "$cmd")
    w+=("$(awk '{print $1}' "$tmp/time")") c+=("$(awk '{print $2 + $3}' "$tmp/time")")
  done
  echo "$(echo "${w[*]}" | median) $(echo "${c[*]}" | median)"
}
log "compiling examples/readme_example.cpp as a user TU, $compile_reps time(s)"
out=$(time_compile examples/readme_example.cpp)
cc_x=${out% *} cc_x_cpu=${out#* }
cc_t=- cc_t_cpu=-
if ((have_torch)); then
  printf '#include <torch/torch.h>\n#include <iostream>\nint main() {\n  torch::Tensor t = torch::rand({2, 3});\n  std::cout << t << "\\n";\n}\n' \
    > "$tmp/torch_hello.cpp"
  log "compiling a libtorch hello-world, $compile_reps time(s)"
  out=$(time_compile bench/per_op_overhead_torch.cpp "$tmp/torch_hello.cpp")
  cc_t=${out% *} cc_t_cpu=${out#* }
fi

# ---- rebuild after a one-op change ---------------------------------------------------------------------------------
log "rebuild of the xgrad library after touching ops/arithmetic.cpp, $compile_reps time(s)"
rb=()
for ((r = 0; r < compile_reps; ++r)); do
  touch "$root/ops/arithmetic.cpp"
  CCACHE_DISABLE=1 flock "$lock" /usr/bin/time -f '%e' -o "$tmp/time" cmake --build "$build" --target xgrad \
    > "$tmp/rebuild.log" 2>&1 || { cat "$tmp/rebuild.log" >&2; exit 1; }
  rb+=("$(cat "$tmp/time")")
done
rebuild=$(echo "${rb[*]}" | median)
grep -q 'ops/arithmetic.cpp' "$tmp/rebuild.log" || log "warning: the rebuild did not recompile ops/arithmetic.cpp"

# ---- the table -----------------------------------------------------------------------------------------------------
tname="libtorch"
((have_torch)) && tname="libtorch $torch_version"
mode="full"
((quick)) && mode="--quick"
mlp_desc="whole epoch"
[[ $mlp_batches != 0 ]] && mlp_desc="$mlp_batches batches, scaled to 938"
echo
echo "bench/run_all.sh ($mode): $started, $(nproc) cores, load average $load_start at the start, $(loadavg) at the end"
echo "per_op/conv/lstm repetitions $reps, epoch runs per cell $epoch_reps, compiles $compile_reps; medians"
echo
echo "| benchmark | xgrad | $tname | ratio xgrad / libtorch |"
echo "| --- | --- | --- | --- |"
row() { echo "| $1 | $2 | $3 | $4 |"; }
threads() { if (($1 == 1)); then echo "1 thread"; else echo "$1 threads"; fi; }
row "per op, chain of 200,000 one-element ops, fwd+bwd+free, 1 thread (ns)" "$(fmt %.0f "$op_x")" "$(fmt %.0f "$op_t")" "$(ratio "$op_x" "$op_t")"
for thr in 1 2; do
  row "MLP epoch, batch 64, SGD momentum, $(threads "$thr"), $mlp_desc (s)" "$(fmt %.2f "${ep_x[mlp$thr]}")" \
    "$(fmt %.2f "${ep_t[mlp$thr]}")" "$(ratio "${ep_x[mlp$thr]}" "${ep_t[mlp$thr]}")"
done
for thr in 1 2; do
  row "ConvNet epoch, batch 64, Adam, $(threads "$thr"), $convnet_batches batches scaled to 938 (s)" \
    "$(fmt %.2f "${ep_x[convnet$thr]}")" "$(fmt %.2f "${ep_t[convnet$thr]}")" \
    "$(ratio "${ep_x[convnet$thr]}" "${ep_t[convnet$thr]}")"
done
for model in mlp convnet; do
  row "peak RSS during training, $model, 1 thread (MB)" "$(fmt %.1f "${mem_x[${model}1]}")" \
    "$(fmt %.1f "${mem_t[${model}1]}")" "$(ratio "${mem_x[${model}1]}" "${mem_t[${model}1]}")"
done
row "conv2d fwd+bwd, x [64,16,28,28], w [32,16,3,3], 1 thread (ms)" "$(fmt %.2f "$conv_x1")" "$(fmt %.2f "$conv_t1")" "$(ratio "$conv_x1" "$conv_t1")"
row "conv2d fwd+bwd, 2 threads (ms)" "$(fmt %.2f "$conv_x2")" "$(fmt %.2f "$conv_t2")" "$(ratio "$conv_x2" "$conv_t2")"
row "LSTM 64->128, T 50, batch 32, fwd+bwd, 1 thread (ms)" "$(fmt %.2f "$lstm_x")" "$(fmt %.2f "$lstm_t")" "$(ratio "$lstm_x" "$lstm_t")"
row "compile a user TU, -O3, 1 core: README example / torch hello-world (s)" "$(fmt %.2f "$cc_x")" "$(fmt %.2f "$cc_t")" "$(ratio "$cc_x" "$cc_t")"
row "rebuild the library after touching ops/arithmetic.cpp (s)" "$(fmt %.2f "$rebuild")" - -
echo
speedup() { [[ $1 == - || $2 == - ]] && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
echo "2-thread speedup, xgrad: MLP $(speedup "${ep_x[mlp1]}" "${ep_x[mlp2]}"), ConvNet $(speedup "${ep_x[convnet1]}" "${ep_x[convnet2]}"), conv2d $(speedup "$conv_x1" "$conv_x2")"
echo "compile CPU time (user+sys): xgrad $(fmt %.2f "$cc_x_cpu") s, libtorch $(fmt %.2f "$cc_t_cpu") s"
if ((!have_torch)); then
  if ((no_torch)); then
    echo "note: --no-torch: libtorch was not looked for; its columns are \"-\"."
  else
    echo "note: libtorch was not found at configure time (find_package(Torch); Debian: libtorch-dev): xgrad alone, \"-\" in the libtorch and ratio columns."
  fi
fi
((have_data)) || echo "note: no Fashion-MNIST in $data_dir (XGRAD_BENCH_DATA): the epoch and memory rows were not run."
((quick)) && echo "note: --quick: few repetitions and shortened epochs; a smoke run, not figures to quote."
exit 0
