# Shared steps of the README's two commands. Each step is idempotent.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {  # apt_install PACKAGE... (only what is missing)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_mariadb() { apt_install mariadb-server mariadb-client; }

ensure_compiler() {  # gcc and the Python headers, for the optional C extension (engine/_native.c)
  apt_install gcc
  local python=${PYTHON:-python3.11}
  command -v "$python" >/dev/null || python=python3
  "$python" -c 'import os, sys, sysconfig
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    apt_install "$("$python" -c 'import sys; print("python%d.%d-dev" % sys.version_info[:2])')"
}

ensure_venv() {  # ensure_venv EXTRAS  (e.g. "test")
  local extras=${1:-}
  local python=${PYTHON:-python3.11}
  command -v "$python" >/dev/null || python=python3
  if [ ! -x "$PY" ]; then
    say "creating the virtualenv in $VENV"
    "$python" -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
  fi
  local stamp="$VENV/.installed-${extras:-base}"
  local want
  want=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/setup.py" \
    "$ROOT/brody_assets/migration/engine/_native.c" | sha256sum | cut -c1-16)  # (rebuilds the C)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing brody_assets${extras:+ [$extras]} and its pinned dependencies"
    "$PY" -m pip install -q -e "$ROOT${extras:+[$extras]}"
    echo "$want" > "$stamp"
  fi
}

ensure_config() {  # a dj_local_conf.json for the demo, with fresh passwords
  if [ ! -f "$ROOT/dj_local_conf.json" ]; then
    say "writing dj_local_conf.json from resources/dj_local_conf.json (demo settings)"
    "$PY" - "$ROOT" <<'PYEOF'
import json, secrets, sys, pathlib
root = pathlib.Path(sys.argv[1])
conf = json.loads((root / "resources" / "dj_local_conf.json").read_text())
conf["database.password"] = secrets.token_urlsafe(16)
conf["custom"]["legacy.database.password"] = secrets.token_urlsafe(16)
target = root / "dj_local_conf.json"
target.write_text(json.dumps(conf, indent=2) + "\n")
target.chmod(0o600)
PYEOF
  fi
}
