#!/usr/bin/env bash
# The main job: set up and build (scripts/setup.sh), then run the
# Fashion-MNIST demo (python3 -m qat demo): float training through the
# compiled train step, PTQ and QAT at int8 and W4A8, integer libraries
# evaluated through the runtime; prints the table and writes
# demo-out/report.md with plots. Extra arguments go to the demo
# (e.g. --networks mlp, --epochs 2, -o folder; --help lists them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$ROOT/scripts/setup.sh"
cd "$ROOT"
PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" \
  exec /usr/bin/python3 -m qat demo -o "${DEMO_OUT:-$ROOT/demo-out}" "$@"
