#!/usr/bin/env bash
# The trainer refuses nonsense options with a message that names the option, exits non-zero, and stops
# at a nan loss without touching the checkpoints of the last good epoch.
#   bash tests/trainer/bad_options.sh <path to the train binary>
set -u
train=$(realpath "${1:?usage: bad_options.sh <path to the train binary>}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export OPENBLAS_NUM_THREADS=1
passed=0 failed=0

pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  sed 's/^/      | /' <<<"$2" | tail -n 8
}

# Runs the trainer; $out gets stdout and stderr, $rc the exit code. A time limit, so that a build
# which ignores the option and trains on fails instead of hanging the test.
run() {
  out=$(timeout 30 "$train" "$@" 2>&1)
  rc=$?
}

# expect_refused "<text the output must have>" <trainer arguments...>
expect_refused() {
  local phrase=$1
  shift
  run "$@"  # writes nothing: the default --out is out/ in the scratch directory
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qF -- "$phrase" <<<"$out"; then
    pass "$* -> exit $rc: $phrase"
  else
    fail "$* (exit $rc, expected non-zero and '$phrase')" "$out"
  fi
}

# expect_diverged <regex the message must match> <trainer arguments...>: exit code 3 and the message.
expect_diverged() {
  local pattern=$1
  shift
  run "$@"
  if [[ $rc -eq 3 ]] && grep -qE -- "$pattern" <<<"$out" && grep -qF -- "Try a smaller --lr" <<<"$out"; then
    pass "$* -> exit 3: $(grep -oE -- "$pattern" <<<"$out")"
  else
    fail "$* (exit $rc, expected 3 and /$pattern/)" "$out"
  fi
}

# --- options refused while parsing (nothing is loaded) ---
expect_refused "--epochs: -1 is out of range" --epochs -1
expect_refused "--epochs: 0 is out of range" --epochs 0
expect_refused "--epochs: '2.5' is not a whole number" --epochs 2.5
expect_refused "--lr: nan is not a finite number" --lr nan
expect_refused "--lr: inf is not a finite number" --lr inf
expect_refused "--lr: -1 is out of range (must be > 0)" --lr -1
expect_refused "--lr: 0 is out of range (must be > 0)" --lr 0
expect_refused "--batch-size: 0 is out of range" --batch-size 0
expect_refused "--batch-size: -64 is out of range" --batch-size -64
expect_refused "--validation: -1 is out of range" --validation -1
expect_refused "--train-subset: -5 is out of range" --train-subset -5
expect_refused "--warmup: -1 is out of range" --warmup -1
expect_refused "--seed: -1 is negative" --seed -1
expect_refused "--reg: -0.1 is out of range (must be >= 0)" --reg -0.1
expect_refused "--reg: nan is not a finite number" --reg nan
expect_refused "--diagnostics: 'x' is not a whole number" --diagnostics x
expect_refused "--diagnostics: -1 is out of range" --diagnostics 0,-1
expect_refused "--diagnostics: '2.5' is not a whole number" --diagnostics 1,2.5
expect_refused "--momentum: 2 is out of range (must be in [0, 1))" --optimizer momentum --momentum 2
expect_refused "--momentum: 1 is out of range (must be in [0, 1))" --optimizer nesterov --momentum 1
expect_refused "--model: nope not in {softmax,svm,mlp,convnet,convnet-bn}" --model nope
expect_refused "--optimizer: nope not in {sgd,momentum,nesterov,adagrad,rmsprop,adam,adamw}" --optimizer nope
expect_refused "--schedule: nope not in {none,step,exp,invtime,cosine,plateau}" --schedule nope
expect_refused "--data-dir: Directory does not exist: /nonexistent" --data-dir /nonexistent
# --- between options ---
expect_refused "--momentum 0.5 has no effect with --optimizer adam" --momentum 0.5
expect_refused "--warmup 5 must be smaller than --epochs 5" --warmup 5 --epochs 5
expect_refused "--diagnostics 9 is after the last epoch (--epochs 5)" --diagnostics 1,9
touch "$work/a-file"
expect_refused "--out $work/a-file is a file, not a directory" --out "$work/a-file"
expect_refused "--resume: there is no out/last.safetensors" --resume
# --- against the data (60,000 Fashion-MNIST training images) ---
expect_refused "--validation 70000 must be smaller than the 60000 training images" --validation 70000
expect_refused "--validation 60000 must be smaller than the 60000 training images" --validation 60000
expect_refused "--validation 3000 must be smaller than --train-subset 3000" --validation 3000 --train-subset 3000
expect_refused "--train-subset 70000 is more than the 60000 training images" --train-subset 70000
expect_refused "--sanity-checks needs 500 training images" --sanity-checks --train-subset 600

# --- a diverging run: SGD at lr 1e6 reaches nan in the first epoch (at iteration 3 with seed 0) ---
small=(--model mlp --optimizer sgd --train-subset 2000)
expect_diverged "the loss became -?(nan|inf) at epoch 1, iteration [0-9]+ of 25 \(lr 1e\+06\)" \
  "${small[@]}" --lr 1e6 --epochs 2 --out "$work/fresh"
if grep -qF "no checkpoint was written" <<<"$out" && [[ ! -e $work/fresh/last.safetensors ]]; then
  pass "diverged in epoch 1: says so and writes no checkpoint"
else
  fail "diverged in epoch 1: expected 'no checkpoint was written' and no last.safetensors" "$out"
fi

# --- diverging after good epochs: the checkpoints of epoch 2 stay byte for byte ---
run "${small[@]}" --epochs 2 --out "$work/good"
if [[ $rc -eq 0 && -f $work/good/last.safetensors ]]; then pass "2 good epochs"; else fail "2 good epochs (exit $rc)" "$out"; fi
sums() { sha256sum "$work/good/last.safetensors" "$work/good/best.safetensors"; }
before=$(sums)
expect_diverged "the loss became -?(nan|inf) at epoch 3, iteration [0-9]+ of 25" \
  "${small[@]}" --epochs 4 --lr 1e6 --resume --out "$work/good"
if [[ $(sums) == "$before" ]] && grep -qF "last.safetensors (epoch 2) and $work/good/best.safetensors are kept" <<<"$out"; then
  pass "resumed and diverged at epoch 3: last and best checkpoints unchanged"
else
  fail "resumed and diverged at epoch 3: the checkpoints changed or the message does not say they are kept" "$out"
fi
# Without a schedule the checkpoint's lr used to win over an explicit --lr: the run trained on at 0.05.
expect_diverged "the loss became -?(nan|inf) at epoch 3, iteration [0-9]+ of 25 \(lr 1e\+06\)" \
  "${small[@]}" --epochs 4 --lr 1e6 --schedule none --resume --out "$work/good"
[[ $(sums) == "$before" ]] && pass "--schedule none: checkpoints unchanged" || fail "--schedule none: checkpoints changed" ""

# --- resume refusals against that checkpoint ---
expect_refused "--epochs 1 is fewer than the 2 epochs $work/good/last.safetensors has already trained" \
  "${small[@]}" --epochs 1 --resume --out "$work/good"
expect_refused "--resume: $work/good/last.safetensors holds a mlp model, not --model softmax" \
  --model softmax --train-subset 2000 --resume --out "$work/good"

# --- a worse epoch after a resume does not replace best.safetensors (it used to: the best accuracy
#     so far started again at -1) ---
best_before=$(sha256sum <"$work/good/best.safetensors")
run "${small[@]}" --epochs 3 --lr 3 --resume --out "$work/good"
if [[ $rc -eq 0 && $(sha256sum <"$work/good/best.safetensors") == "$best_before" ]] &&
  ! cmp -s "$work/good/last.safetensors" "$work/good/best.safetensors"; then
  pass "resumed epoch 3 worse than epoch 2: best.safetensors kept, last.safetensors updated"
else
  fail "resumed epoch 3 worse than epoch 2: best.safetensors was replaced (exit $rc)" "$out"
fi

# --- a finite but exploding loss (Adam at lr 1e6 stays finite here) is not silent ---
run --model mlp --train-subset 2000 --lr 1e6 --epochs 1 --out "$work/explode"
if grep -qE "warning: epoch 1's loss .* more than 3 times the first iteration's" <<<"$out"; then
  pass "exploding finite loss: warned"
else
  fail "exploding finite loss: expected a warning" "$out"
fi

# --- --diagnostics writes its files (PNGs only where gnuplot is installed) and leaves training alone ---
run --model mlp --train-subset 2000 --epochs 1 --diagnostics 0,1 --out "$work/diag"
diag="$work/diag/diagnostics"
if [[ $rc -eq 0 ]] && grep -qF "diagnostics before training" <<<"$out" &&
  grep -qE "^2: ReLU +\[256,256\]" "$diag/epoch_1_flow.txt" &&
  [[ -s $diag/epoch_0_activations.csv && -s $diag/epoch_1_gradients.csv ]] &&
  { ! command -v gnuplot >/dev/null || [[ -s $diag/epoch_1_activations.png && -s $diag/epoch_0_gradients.png ]]; }; then
  pass "--diagnostics 0,1: flow report, histogram CSVs and PNGs for epochs 0 and 1"
else
  fail "--diagnostics 0,1 (exit $rc): missing output" "$out"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
