#!/usr/bin/env bash
# Installs what is missing, builds the library, examples and tests, and runs the whole suite.
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   the same under -fsanitize=address,undefined, in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dir=build flags=(-DXGRAD_BUILD_TESTS=ON)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-sanitize flags=(-DXGRAD_BUILD_TESTS=ON -DXGRAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake -S . -B "$dir" -G Ninja "${flags[@]}"
time cmake --build "$dir" -j2
ctest --test-dir "$dir" -j2 --output-on-failure
