#!/usr/bin/env bash
# Builds everything and runs every test (unit, integration, lab) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh test
build=${ANYEDGE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANYEDGE_TESTS=ON ${ANYEDGE_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"
