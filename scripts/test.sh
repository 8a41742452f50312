#!/usr/bin/env bash
# Command 2: install what the tests need and run the whole suite (on a real MariaDB and Chromium).
#   bash scripts/test.sh [pytest args]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_mariadb
ensure_compiler
apt_install chromium
ensure_venv test
say "lint (ruff)"
"$VENV/bin/ruff" check brody_assets brody_assets_tests benchmarks
say "definitions load (dagster definitions validate)"
DAGSTER_HOME=$(mktemp -d) "$VENV/bin/dagster" definitions validate -m brody_assets.definitions >/dev/null
say "test suite"
"$VENV/bin/pytest" brody_assets_tests "$@"
