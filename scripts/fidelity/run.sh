#!/usr/bin/env bash
# Fidelity check: UiPath's generated Orchestrator client, unchanged, against the simulator.
# Installs uipath-orchestrator-rest from PyPI into target/fidelity-venv (once), builds the
# simulator and reads every dataset through the client, which validates field types and
# enum values while deserializing. Not part of scripts/test.sh because it needs PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
venv=target/fidelity-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q uipath-orchestrator-rest
fi
cargo build -q -p uipath-sim --bin uipath-sim
"$venv/bin/python" scripts/fidelity/sdk_check.py target/debug/uipath-sim
