#!/usr/bin/env bash
# Installs what xgrad needs from Debian 12's packages, skipping the apt run when all are present.
# Extra package names given as arguments are installed too (e.g. libtorch-dev for bench/).
# graphviz: xg::render and the backprop examples draw graphs with its dot (chromium, for the stepper's
# browser check, is not installed here: that test is skipped without it).
set -euo pipefail
packages=(g++ cmake ninja-build ccache pkg-config
          libxtensor-dev libxtensor-blas-dev libxsimd-dev xtl-dev libopenblas-dev
          doctest-dev libfmt-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist
          libcli11-dev libstb-dev gnuplot-nox graphviz clang-format
          libopenmpi-dev openmpi-bin "$@")  # OpenMPI: distributed/ (data-parallel training), optional for the core
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
