#!/usr/bin/env bash
# A trainer killed with SIGKILL at any moment leaves checkpoints that load: after each kill
# last.safetensors (model and optimizer state) and best.safetensors are the old or the new file, never
# a torn one, the epoch they hold never goes back, and at the end a resumed run finishes.
#   bash tests/trainer/kill_resume.sh <path to the train binary> [kills] [seed]
set -u
train=$(realpath "${1:?usage: kill_resume.sh <path to the train binary> [kills] [seed]}")
kills=${2:-20}
RANDOM=${3:-2718}  # the kill times are the same on every run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export OPENBLAS_NUM_THREADS=1
out=$work/out
# A tiny run: an epoch of the MLP on 2,400 images takes a fraction of a second, so most kills land
# in an epoch's training, its evaluation or one of its two checkpoint writes (~3 MB each, with fsync).
args=(--model mlp --train-subset 3000 --out "$out")
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  [[ -n ${2:-} ]] && sed 's/^/      | /' <<<"$2" | tail -n 8
}

# The "epoch" in a checkpoint's metadata: the file starts with an 8-byte little-endian header length,
# then the JSON header.
epoch_of() {
  local n
  n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
  [[ -n $n ]] && head -c $((8 + n)) "$1" | tail -c "$n" | grep -oE '"epoch":"[0-9]+"' | grep -oE '[0-9]+'
}
temporaries() { find "$out" -name '*.tmp-*' 2>/dev/null | wc -l; }

last_epoch=0
for ((k = 1; k <= kills; ++k)); do
  ms=$((200 + RANDOM % 1801))  # 0.2 to 2 s: from loading the data to a few dozen epochs in
  resume=()
  [[ -f $out/last.safetensors ]] && resume=(--resume)
  "$train" "${args[@]}" "${resume[@]}" --epochs 100000 >"$work/run.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  where="kill $k at ${ms} ms"
  left=$(find "$out" -name "*.tmp-$pid-*" 2>/dev/null)
  [[ -n $left ]] && where+=" (in a checkpoint write: $(basename "$left") left)"
  if [[ ! -f $out/last.safetensors ]]; then
    if ((last_epoch == 0)); then pass "$where: no checkpoint yet"; else fail "$where: last.safetensors vanished"; fi
    continue
  fi
  epoch=$(epoch_of "$out/last.safetensors")
  if [[ -z $epoch ]]; then
    fail "$where: last.safetensors has no readable header"
    continue
  fi
  # Loads last.safetensors (model and optimizer), trains no further epoch, then loads best.safetensors
  # for the test accuracy: both files must be whole.
  log=$("$train" "${args[@]}" --resume --epochs "$epoch" 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]] && grep -qF "resumed from $out/last.safetensors after epoch $epoch" <<<"$log" &&
    grep -q "^test accuracy" <<<"$log" && ((epoch >= last_epoch)); then
    pass "$where: checkpoint of epoch $epoch (was $last_epoch) loads"
    # The next run removes the temporary file of the killed one.
    [[ -n $left && -e $left ]] && fail "$where: the next run did not remove $left"
  else
    fail "$where: the checkpoint of epoch $epoch (was $last_epoch) does not load (exit $rc)" "$log"
  fi
  last_epoch=$epoch
done

# Finally a resumed run that finishes: two more epochs, a test accuracy, exit 0.
if [[ -f $out/last.safetensors ]]; then
  log=$("$train" "${args[@]}" --resume --epochs $((last_epoch + 2)) 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]] && grep -q "^epoch $((last_epoch + 2))/$((last_epoch + 2))" <<<"$log" &&
    grep -q "^test accuracy" <<<"$log"; then
    pass "resumed after epoch $last_epoch and finished epoch $((last_epoch + 2)): $(grep '^test accuracy' <<<"$log")"
  else
    fail "the final resumed run did not finish (exit $rc)" "$log"
  fi
else
  fail "no checkpoint after $kills kills"
fi
# ... and it removed the temporary files that kills during a checkpoint write left behind.
if (($(temporaries) == 0)); then pass "no temporary file left in $out"; else fail "temporary files left: $(temporaries)"; fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
