# Sourced by scripts/up and scripts/test: makes .venv (once) and installs SendFlowr into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "SendFlowr needs Python 3.11 or newer (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "[sendflowr] creating $ROOT/.venv" >&2
  "$PY" -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.sendflowr-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "[sendflowr] installing dependencies into .venv (first run takes about a minute)" >&2
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]" >&2
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"
