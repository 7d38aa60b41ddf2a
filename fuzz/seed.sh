#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds from the real captures in shared/corpus.
# The captures stay outside git: fuzz/corpus is gitignored.
#   capture_reader, scan: the capture files as they are;
#   decode, tls_stream:   frames and reassembled connections, written by seedgen/.
# Usage: fuzz/seed.sh [CORPUS_DIR]   (default: /work/shared/corpus, or $TLSCAP_CORPUS)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-${TLSCAP_CORPUS:-/work/shared/corpus}}"
out="$here/corpus"
[ -f "$src/FILES.txt" ] || { echo "no $src/FILES.txt" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$here/seedgen/Cargo.toml" \
    --target-dir "$here/target/seedgen"
gen="$here/target/seedgen/release/tlscap-seedgen"

mkdir -p "$out/capture_reader" "$out/scan" "$out/decode" "$out/tls_stream"
while IFS= read -r f; do
    [ -n "$f" ] || continue
    name="$(printf '%s' "$f" | sed 's|/|__|g')"
    cp "$src/$f" "$out/capture_reader/$name"
    cp "$src/$f" "$out/scan/$name"
    "$gen" "$out" "$name" "$src/$f" >/dev/null
done < "$src/FILES.txt"

for t in capture_reader decode tls_stream scan; do
    echo "$t: $(ls "$out/$t" | wc -l) seeds, $(du -sh "$out/$t" | cut -f1)"
done
