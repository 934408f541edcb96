#!/usr/bin/env bash
# Prints the size of the release .wasm: raw, gzip -9 and brotli (quality 11).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=target/site/pkg/portal.wasm
[ -f "$wasm" ] || { echo "no $wasm: run 'cargo leptos build --release' first" >&2; exit 1; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
br=$(node -e 'const z=require("zlib");const b=require("fs").readFileSync(process.argv[1]);console.log(z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length)' "$wasm")
printf 'release wasm: %s bytes raw, %s gzip -9, %s brotli-11\n' "$raw" "$gz" "$br"
