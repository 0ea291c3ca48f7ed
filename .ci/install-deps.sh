#!/usr/bin/env bash
# Installs the Debian 12 packages anyedge needs, only when some are missing.
# Usage: install-deps.sh [build|test|bench]  (each set includes the previous ones)
set -euo pipefail
set_name=${1:-build}

pkgs=(build-essential cmake pkg-config clang libbpf-dev libboost1.81-dev libssl-dev liburing-dev
      nlohmann-json3-dev libgtest-dev libcli11-dev zlib1g-dev libbrotli-dev libzstd-dev libsodium-dev
      libgcrypt20-dev libnghttp2-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev
      libgnutls28-dev openssl curl)
if [[ $set_name == test || $set_name == bench ]]; then
    # pebble: Let's Encrypt's test CA, and certutil (libnss3-tools) to put its root into
    # Chromium's NSS store, for the fleet-certificate lab scenario (tests/lab/acme.sh).
    # ngtcp2-client: gtlsclient, the HTTP/3 client of the integration tests.
    pkgs+=(bird2 iproute2 procps python3 chromium nginx-light wrk testssl.sh nghttp2-client
           clang-format git pebble libnss3-tools
           ngtcp2-client wireguard-go wireguard-tools)
fi
if [[ $set_name == bench ]]; then
    # h2o: the HTTP/2 peer in bench/. Debian's package also installs (and on a systemd machine
    # starts) an h2o service; the bench runs its own instances and does not need it.
    pkgs+=(nghttp2-client util-linux h2o)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
