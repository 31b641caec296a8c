#!/usr/bin/env bash
# Developer checks: formatting (clang-format, as CI) and, with --tidy, clang-tidy's bug-finding checks
# (.clang-tidy) over the library's sources. clang-tidy parses xtensor's templates: ~20-40 s a file.
#   scripts/lint.sh            fails on any formatting difference (CI runs this)
#   scripts/lint.sh --fix      reformats the tree in place
#   scripts/lint.sh --tidy     clang-tidy (15 or newer) over the library's sources
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "lint: clang-format is missing (apt-get install clang-format)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
case "${1:-}" in
  --fix) clang-format -i "${files[@]}" ;;
  --tidy)
    # clang-tidy 14 (Debian 12's default) cannot parse std::source_location from GCC 12's library,
    # which every op uses: it needs clang-tidy 15 or newer.
    tidy=""
    for v in 16 15; do command -v "run-clang-tidy-$v" > /dev/null && { tidy="$v"; break; }; done
    [ -n "$tidy" ] || { echo "lint: --tidy needs clang-tidy 15 or newer (apt-get install clang-tidy-16)" >&2; exit 1; }
    cmake -S . -B build -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON > /dev/null
    mapfile -t sources < <(git ls-files 'autograd/*.cpp' 'ops/*.cpp' 'nn/*.cpp' 'optim/*.cpp' 'data/*.cpp' 'io/*.cpp' 'testing/*.cpp')
    "run-clang-tidy-$tidy" -clang-tidy-binary "clang-tidy-$tidy" -p build -quiet -j 2 "${sources[@]}" ;;
  "")
    if ! clang-format --dry-run --Werror "${files[@]}"; then
      echo "lint: the files above differ from .clang-format's style; run: bash scripts/lint.sh --fix" >&2
      exit 1
    fi
    echo "lint: ${#files[@]} files formatted as .clang-format says" ;;
  *) echo "usage: scripts/lint.sh [--fix | --tidy]" >&2; exit 2 ;;
esac
