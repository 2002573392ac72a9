#!/usr/bin/env bash
# The web console's list-page benchmark (issue 13):
#   bash bench/console.sh [N] [extra `trainyard bench console` flags...]
# Builds release and runs `trainyard bench console --jobs N` (default 1,000,000) with the
# first-paint script (needs Debian's chromium and `pip install playwright`; no browser download).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
cargo build --release -p trainyard
exec target/release/trainyard bench console --jobs "$N" --paint-script tests/console/first_paint.py "$@"
