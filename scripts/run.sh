#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DXGRAD_BUILD_TESTS=OFF
cmake --build build -j2
./build/examples/backprop_gates
