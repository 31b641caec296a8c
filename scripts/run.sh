#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the small ConvNet trained on
# Fashion-MNIST (5 epochs, Adam, cosine schedule), printing the test accuracy at the end.
# Extra arguments go to the trainer, e.g. scripts/run.sh --model mlp --epochs 8
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DXGRAD_BUILD_TESTS=OFF
cmake --build build -j2 --target train
./build/examples/train "$@"
