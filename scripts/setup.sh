#!/usr/bin/env bash
# Command 1: set everything up on a fresh Debian machine and run the main job.
#   bash scripts/setup.sh [--scale small|lab] [--ui]
# Creates .venv, installs the package, installs mariadb-server if missing, starts the project's own
# server (.brody/mariadb, 127.0.0.1), builds the demo legacy database and drives, runs
# `brody-assets doctor` (stops here on a blocker), materializes the
# graph, prints a summary; with --ui, then serves the Dagster UI on http://127.0.0.1:3000.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SCALE=small
UI=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --lab) SCALE=lab; shift ;;
    --ui) UI=1; shift ;;
    *) echo "usage: bash scripts/setup.sh [--scale small|lab] [--ui]" >&2; exit 2 ;;
  esac
done

ensure_mariadb
ensure_compiler
ensure_venv
ensure_config
export DAGSTER_HOME="${DAGSTER_HOME:-$ROOT/.brody/dagster_home}"
say "starting the project's MariaDB server"
"$VENV/bin/brody-assets" db start
say "building the demo legacy database ($SCALE) and demo drives"
"$VENV/bin/brody-assets" demo build --scale "$SCALE"
say "checking the site before the first migration (read-only)"
"$VENV/bin/brody-assets" doctor
say "materializing the asset graph"
"$VENV/bin/brody-assets" materialize
if [ "$UI" = 1 ]; then
  say "Dagster UI on http://127.0.0.1:3000 (Ctrl-C to stop)"
  exec "$VENV/bin/dagster" dev -h 127.0.0.1 -p 3000 -w "$ROOT/workspace.yaml"
fi
