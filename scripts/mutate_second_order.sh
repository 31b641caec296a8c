#!/usr/bin/env bash
# Mutation check of the second derivatives: plants one wrong second-derivative rule at a time in a
# scratch copy of the tree and shows that the gradgradcheck suite (tests/test_gradgrad_ops.cpp)
# catches it. Each mutant leaves the first derivative's value untouched (a detach() where a local
# gradient must stay differentiable, or a wrong factor in the gradient of a backward-only op), so
# the first-order tests cannot see it; only a second-order check can.
#
#   scripts/mutate_second_order.sh [--seed S] [--count K] [--only N]
#
# Runs all mutants in order by default; --seed/--count run K of them chosen at random from seed S;
# --only N runs mutant N alone.
# Needs ~40 s per mutant (one translation unit and two links). Not part of CI: it rebuilds too much.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="" count=0 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--seed S] [--count K] [--only N]" >&2; exit 2 ;;
  esac
done

# file | the correct text | the mutant
mutants=$(cat <<'LIST'
ops/arithmetic.cpp|node.dx[0] = node.dy * node.x[1];|node.dx[0] = node.dy * node.x[1].detach();
ops/arithmetic.cpp|node.dx[1] = -node.dy * node.y / node.x[1];|node.dx[1] = -node.dy * node.y.detach() / node.x[1];
ops/elementwise.cpp|[](Backward& node) { node.dx[0] = node.dy * node.y; }|[](Backward\& node) { node.dx[0] = node.dy * node.y.detach(); }
ops/elementwise.cpp|node.dx[0] = node.dy / node.x[0];|node.dx[0] = node.dy / node.x[0].detach();
ops/elementwise.cpp|node.dx[0] = node.dy * (1.0 - node.y * node.y);|node.dx[0] = node.dy * (1.0 - node.y.detach() * node.y);
ops/elementwise.cpp|node.dx[0] = node.dy * node.y * (1.0 - node.y);|node.dx[0] = node.dy * node.y * (1.0 - node.y.detach());
ops/elementwise.cpp|(p * pow(node.x[0], p - 1))|(p * pow(node.x[0].detach(), p - 1))
ops/elementwise.cpp|node.dx[0] = node.dy * (node.x[0] > 0.0);|node.dx[0] = node.dy.detach() * (node.x[0] > 0.0);
ops/softmax.cpp|node.dx[0] = node.y * (node.dy - sum(node.dy * node.y, axis, true));|node.dx[0] = node.y.detach() * (node.dy - sum(node.dy * node.y, axis, true));
ops/softmax.cpp|node.dx[0] = node.dy - exp(node.y) * sum(node.dy, axis, true);|node.dx[0] = node.dy - exp(node.y.detach()) * sum(node.dy, axis, true);
ops/matmul.cpp|gemm_recorded(node.dy, false, node.x[1], true, site)|gemm_recorded(node.dy, false, node.x[1].detach(), true, site)
ops/matmul.cpp|gemm_recorded(node.dy, true, node.x[0], false, site)|gemm_recorded(node.dy, true, node.x[0].detach(), false, site)
ops/gather.cpp|node.dx[0] = gather_flat(node.dy, at, node.x.shape(0), site);|node.dx[0] = gather_flat(node.dy, at, node.x.shape(0), site) * 0.5;
ops/pool.cpp|node.dx[0] = avg_pool2d(node.dy, kernel, stride, site);|node.dx[0] = avg_pool2d(node.dy, kernel, stride, site) * 0.5;
ops/conv.cpp|node.dx[0] = conv2d_input_grad(node.dy, node.x[1], g, site);|node.dx[0] = conv2d_input_grad(node.dy, node.x[1].detach(), g, site);
ops/conv.cpp|node.dx[1] = conv2d_weight_grad(node.x[0], node.dy, g, site);|node.dx[1] = conv2d_weight_grad(node.x[0].detach(), node.dy, g, site);
ops/conv.cpp|node.dx[0] = conv2d_input_grad(node.x[1], node.dy, g, site);|node.dx[0] = conv2d_input_grad(node.x[1], node.dy * 0.5, g, site);
ops/normalization.cpp|mul(xhat, channel_mean(mul(dy, xhat, site), site), site)|mul(xhat.detach(), channel_mean(mul(dy, xhat, site), site), site)
ops/loss.cpp|node.dx[0] = k * (sigmoid(node.x[0]) - node.x[1]);|node.dx[0] = k * (sigmoid(node.x[0].detach()) - node.x[1]);
ops/dropout.cpp|node.dx[0] = node.dy * apply(ones_like(node.dy), keep, scale);|node.dx[0] = node.dy.detach() * apply(ones_like(node.dy), keep, scale);
ops/reduce.cpp|node.dx[0] = expand(reshape(node.dy, kept), node.x.shape(0));|node.dx[0] = expand(reshape(node.dy.detach(), kept), node.x.shape(0));
LIST
)
total=$(printf '%s\n' "$mutants" | wc -l)
chosen=$(seq 1 "$total")
if [ -n "$only" ]; then
  chosen="$only"
elif [ -n "$seed" ] && [ "$count" -gt 0 ]; then
  chosen=$(seq 1 "$total" | shuf --random-source=<(yes "$seed") -n "$count" | sort -n)
fi

scratch=/tmp/xgrad-mutants
rm -rf "$scratch"
git worktree prune
git worktree add -f --detach "$scratch" HEAD >/dev/null
trap 'git worktree remove --force "$scratch" >/dev/null 2>&1 || true' EXIT
cmake -S "$scratch" -B "$scratch/build" -G Ninja -DXGRAD_BUILD_TESTS=ON -DXGRAD_BUILD_EXAMPLES=OFF >/dev/null
build() { CCACHE_BASEDIR="$scratch" flock /tmp/xgrad-build.lock cmake --build "$scratch/build" -j2 --target xgrad_tests >/dev/null; }
build
"$scratch/build/tests/xgrad_tests" -sf='*test_gradgrad_ops.cpp' >/dev/null || { echo "the unmutated suite fails" >&2; exit 1; }

planted=0 caught=0
for n in $chosen; do
  line=$(printf '%s\n' "$mutants" | sed -n "${n}p")
  IFS='|' read -r file correct mutant <<<"$line"
  (cd "$scratch" && git checkout -q -- "$file")
  python3 - "$scratch/$file" "$correct" "$mutant" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3].replace('\\&', '&')
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"mutant site not found exactly once in {path}: {old}")
text = text.replace(old, new)
# a wrong factor (`* 0.5`) needs Tensor * double, declared in ops/arithmetic.hpp
first_include = text.index('#include "')
text = text[:first_include] + '#include "arithmetic.hpp"\n' + text[first_include:]
open(path, "w").write(text)
PY
  build || { echo "mutant #$n does not compile: $file: $mutant" >&2; exit 1; }
  planted=$((planted + 1))
  if "$scratch/build/tests/xgrad_tests" -sf='*test_gradgrad_ops.cpp' >/dev/null 2>&1; then
    echo "NOT caught  #$n $file: $mutant"
  else
    caught=$((caught + 1))
    echo "caught      #$n $file: $mutant"
  fi
  (cd "$scratch" && git checkout -q -- "$file")
done
echo "planted $planted wrong second-derivative rules, caught $caught"
[ "$planted" = "$caught" ]
