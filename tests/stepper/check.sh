#!/usr/bin/env bash
# The step-through page of examples/backprop_stepper in headless Chromium: the page opens at the step
# its URL fragment names (#step=1, #step=last), and the first and last steps are screenshotted
# (PNGs left in the output directory for a person to look at). Exit status 77 (CTest's
# SKIP_RETURN_CODE) when chromium or Graphviz's dot is not installed.
#   check.sh <backprop_stepper binary> <output directory>
set -euo pipefail
stepper=$1
out=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then echo "skipped: chromium not installed"; exit 77; fi
if ! command -v dot > /dev/null; then echo "skipped: Graphviz's dot not installed"; exit 77; fi
mkdir -p "$out"
page="$out/gates.html"
"$stepper" --circuit gates --out "$page"
if grep -qE '<script[^>]+src=|<link|https?://[^"]*\.(js|css)' "$page"; then
  echo "FAIL: the page loads something from outside"; exit 1
fi
steps=$(sed -n 's/.*data-steps="\([0-9]*\)".*/\1/p' "$page")
[ "$steps" = 2 ] || { echo "FAIL: expected 2 steps for (x+y)z, the page has '$steps'"; exit 1; }
url="file://$(realpath "$page")"
chrome() { timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars "$@" 2> /dev/null; }
for fragment in 1 last; do
  want=$([ $fragment = last ] && echo "$steps" || echo 1)
  dom=$(chrome --virtual-time-budget=2000 --dump-dom "$url#step=$fragment")
  grep -q "data-current=\"$want\"" <<< "$dom" || { echo "FAIL: #step=$fragment did not open step $want"; exit 1; }
  grep -q "step $want of $steps" <<< "$dom" || { echo "FAIL: no 'step $want of $steps' on the page"; exit 1; }
  chrome --virtual-time-budget=2000 --window-size=1200,800 --screenshot="$out/step_$fragment.png" "$url#step=$fragment"
  size=$(stat -c %s "$out/step_$fragment.png")
  [ "$size" -gt 10000 ] || { echo "FAIL: screenshot $out/step_$fragment.png is $size bytes"; exit 1; }
  echo "step $want of $steps: $out/step_$fragment.png ($size bytes)"
done
