#!/usr/bin/env bash
# The abuse benchmark (issue 9 §2):
#   bash bench/abuse.sh [extra `trainyard bench abuse` flags...]
# Builds release, starts `trainyard serve` WITH authentication on 127.0.0.1 with a fresh data
# directory (restarted before each attack), imports 10,000 jobs, then measures side by side:
# the token-authenticated job list idle (for as long as the flood) and during a 256-client login flood (from one address,
# then from 256 addresses), and the server's peak RSS above idle during the floods and during 32
# concurrent unauthenticated 60 MiB posts (expired date; valid date with a wrong secret).
# `--server-exe OLD_BINARY` attacks another build with the same client (before/after figures).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p trainyard
exec target/release/trainyard bench abuse "$@"
