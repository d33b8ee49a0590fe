#!/usr/bin/env bash
# Quick start 1: set up, then run the main job once on the bundled sample mailbox and show the cases.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f config/triage.toml ] || cp config/triage.example.toml config/triage.toml
.venv/bin/triage process
echo
.venv/bin/triage cases
