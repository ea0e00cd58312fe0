#!/usr/bin/env bash
# make demo, LLM smoke step: a transformers folder, greedy tokens, int8 budget, policy.
set -euo pipefail
bash "$(dirname "$0")/../llm_smoke_demo.sh" "$1"
