#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format (Debian 12's, 14) makes of it
# with the repository's .clang-format; prints the files and the first lines of the difference.
# Fix with: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed (apt-get install clang-format)"; exit 1; }
bad=0
while IFS= read -r f; do
    if ! diff -q <(clang-format --style=file "$f") "$f" >/dev/null; then
        echo "not formatted: $f"
        diff <(clang-format --style=file "$f") "$f" | head -10
        bad=1
    fi
done < <(git ls-files '*.cc' '*.h')
((bad)) && { echo "run: git ls-files '*.cc' '*.h' | xargs clang-format -i"; exit 1; }
echo "every C++ file is formatted ($(clang-format --version | head -1))"
