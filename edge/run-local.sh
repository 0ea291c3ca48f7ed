#!/usr/bin/env bash
# Builds cdn-edge and serves the bundled blog at http://127.0.0.1:8080/ and
# https://127.0.0.1:8443/ (self-signed certificate for localhost).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh build
build=${ANYEDGE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANYEDGE_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target cdn-edge
# No certificate given: cdn-edge makes a self-signed one for localhost, so HTTPS works too.
exec "$build/edge/cdn-edge" --site site --listen 127.0.0.1:8080 --tls-listen 127.0.0.1:8443 "$@"
