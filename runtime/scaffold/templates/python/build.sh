#!/bin/sh
# Build {{name}}.wasm with componentize-py (installed into .venv, or $SLUICE_PY_VENV, when missing).
set -eu
cd "$(dirname "$0")"
VENV="${SLUICE_PY_VENV:-.venv}"
if ! "$VENV/bin/componentize-py" --version 2>/dev/null | grep -q "{{componentize_py}}"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "componentize-py=={{componentize_py}}"
fi
"$VENV/bin/componentize-py" -d wit -w sluice:connector/connector componentize -p . app -o {{name}}.wasm
echo "built {{name}}.wasm"
