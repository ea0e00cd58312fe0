#!/usr/bin/env bash
# make demo, smoke step: record on CPU, check, alter a weight + re-sign, check fails.
set -euo pipefail
bash "$(dirname "$0")/../smoke_demo.sh" "$1/smoke"
