#!/usr/bin/env bash
# Installs what is missing, builds the library, examples and tests, and runs the whole suite.
#   scripts/test.sh              Release build in build/, the whole suite
#   scripts/test.sh --sanitize   the whole suite (examples included) under -fsanitize=address,undefined,
#                                in build-sanitize/
#   scripts/test.sh --tsan       the library and the doctest suite under -fsanitize=thread, with
#                                set_num_threads(8), in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mode="${1:-}"
case "$mode" in
  "")
    dir=build flags=(-DXGRAD_BUILD_TESTS=ON) ;;
  --sanitize)
    dir=build-sanitize flags=(-DXGRAD_BUILD_TESTS=ON -DXGRAD_SANITIZE=address -DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  --tsan)
    dir=build-tsan flags=(-DXGRAD_BUILD_TESTS=ON -DXGRAD_BUILD_EXAMPLES=OFF -DXGRAD_SANITIZE=thread
                          -DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  *)
    echo "usage: scripts/test.sh [--sanitize | --tsan]" >&2
    exit 2 ;;
esac
# libtorch (tests/torch, where it is installed) is not built with sanitizers: the sanitized builds leave it out,
# and its oracle tests run in the plain build (the TSan build would otherwise list them as not built).
[ "$mode" = "" ] || flags+=(-DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON)
# XGRAD_WERROR=ON in the environment (CI) turns warnings into errors.
cmake -S . -B "$dir" -G Ninja "${flags[@]}" -DXGRAD_WERROR="${XGRAD_WERROR:-OFF}"
if [ "$mode" = --tsan ]; then
  time cmake --build "$dir" -j2 --target xgrad_tests xgrad_testing_macros_failing
  # The whole doctest suite with set_num_threads(8): more threads than cores, so the pool's workers
  # interleave as on a bigger machine. The downstream install check builds a separate project.
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
  XGRAD_TEST_THREADS=8 ctest --test-dir "$dir" -j2 --output-on-failure --timeout 900 -E install_and_use_downstream
else
  time cmake --build "$dir" -j2
  ctest --test-dir "$dir" -j2 --output-on-failure
fi
