#!/usr/bin/env bash
# The README's first command: the demo app (examples/demo.py, on SQLite, every account
# page on, mail shown at /_demo/mail, secrets kept in instance/demo-secrets.json) served by
# hypercorn on http://127.0.0.1:5000 until Ctrl-C. Creates the venv and installs this
# package into it if needed. Env: VENV (default <repo>/.venv), PYTHON (default python3,
# used only to create the venv), QS_DEMO_PORT (default 5000; the host is always 127.0.0.1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}
PORT=${QS_DEMO_PORT:-5000}
export QS_DEMO_PORT=$PORT   # the demo builds its mail links for this port
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

[ -f examples/demo.py ] || { echo "demo.sh: examples/demo.py does not exist yet" >&2; exit 1; }
[[ $PORT =~ ^[0-9]+$ ]] || { echo "demo.sh: QS_DEMO_PORT=$PORT is not a port number" >&2; exit 1; }
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null; }; then
  echo "demo.sh: creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
  { echo "demo.sh: $VENV has Python < 3.11: remove it, or set PYTHON to a python3.11+" >&2; exit 1; }
echo "demo.sh: pip install -e '.[mfa]'"
"$VENV/bin/python" -m pip install -q -e '.[mfa]'  # two-factor is on in the demo
echo "demo.sh: serving on http://127.0.0.1:$PORT (Ctrl-C stops it)"
exec "$VENV/bin/hypercorn" --bind "127.0.0.1:$PORT" examples.demo:app
