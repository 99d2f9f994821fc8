#!/usr/bin/env bash
# Creates .venv (gitignored) with real OPA (Go, via opa-golib-python-bindings), the official
# MCP Python SDK (for the MCP gateway's end-to-end tests) and Selenium (approvals page test).
# Idempotent: a no-op when the pinned version is already installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PKG=opa-golib-python-bindings
VER=0.4.4   # embeds OPA v1.20.2 (strict builtin errors on)

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$PKG') != '$VER')" 2>/dev/null; then
  # The wheel declares Requires-Python >=3.14 but works on 3.11 (ctypes + a Go c-shared library).
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --ignore-requires-python "$PKG==$VER"
fi
MCP_VER=2.3.0
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VER')" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_VER"
fi
# Selenium drives Debian's chromium + chromedriver in the approvals web page test (4.50: newer
# releases need a certifi this index does not have yet).
SEL_VER=4.50.0
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('selenium') != '$SEL_VER')" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "selenium==$SEL_VER"
fi
