#!/usr/bin/env bash
# Installs every tool Portal's build and tests need, skipping what is already present.
# Nothing here downloads a prebuilt binary: Debian packages, crates.io sources and npm only.
# Usage: scripts/toolchain.sh [run|test]; `run` skips what only the tests need (Chromium).
# Every step is skipped when its tool already answers with the right version.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-test}

CARGO_LEPTOS_VERSION=0.3.11
# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }

need_apt=()
packages=(pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev)
[ "$purpose" = test ] && packages+=(chromium)
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

rustup target list --installed | grep -q wasm32-unknown-unknown || {
  say "rustup: wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }

# Installs a crate from its registry source with one dependency pinned, because the crate's
# own lockfile names versions that this toolchain or registry cannot take (see TOOLCHAIN notes).
install_pinned() {
  local crate=$1 version=$2 dep=$3 dep_version=$4; shift 4
  installed() { cargo install --list | grep -q "^$crate v$version:"; }
  cargo install "$crate" --version "=$version" --locked "$@" >/dev/null 2>&1 || true
  installed && return 0
  local src work
  src=$(ls -d "$HOME"/.cargo/registry/src/index.crates.io-*/"$crate-$version" | head -n1)
  work=$(mktemp -d)
  cp -r "$src" "$work/$crate"
  (cd "$work/$crate" && cargo update -p "$dep" --precise "$dep_version" && cargo install --path . --locked "$@")
  rm -rf "$work"
}

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "cargo-leptos $CARGO_LEPTOS_VERSION (built from source, about 16 minutes on 2 cores)"
  install_pinned cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-util-schemas 0.14.1 --features no_downloads
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  install_pinned wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10
fi

# Debian's wasm-opt (Binaryen 108) produces a .wasm that does not hydrate; the npm one is used.
if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ]; then
  say "npm: tailwindcss, binaryen"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The identity providers the demo and the browser tests run (and Playwright) live in end2end;
# npm ci writes node_modules/.package-lock.json, so an older one means package-lock.json changed.
if [ ! -f end2end/node_modules/.package-lock.json ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "npm: end2end (Playwright, saml-idp, oidc-provider)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi
say "toolchain ready"
