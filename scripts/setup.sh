#!/usr/bin/env bash
# Set up everything gongjian needs on Debian/Ubuntu, idempotently:
#   1. system packages (PostgreSQL with PostGIS and pgRouting, Python venv support),
#   2. a virtualenv in .venv with the project and its dev tools installed.
# Safe to run again: it installs only what is missing. Works as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { if [ -t 1 ]; then printf '\033[1m==> %s\033[0m\n' "$*"; else printf '==> %s\n' "$*"; fi; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null; then sudo "$@";
  else echo "error: need root or sudo to install system packages: $*" >&2; exit 1; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The distribution's current PostgreSQL major (15 on Debian 12, 16 on Ubuntu 24.04, ...).
pg_major() {
  local installed
  installed=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
  if [ -n "$installed" ]; then echo "$installed"; return; fi
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  apt-cache depends postgresql 2>/dev/null | grep -o 'postgresql-[0-9]\+' | head -1 | cut -d- -f2
}

command -v apt-get >/dev/null || { echo "error: this script needs Debian/Ubuntu (apt-get)" >&2; exit 1; }
PG=$(pg_major)
[ -n "$PG" ] || { echo "error: cannot find a PostgreSQL version in apt" >&2; exit 1; }
# PostGIS + pgRouting: the database. fonts-noto-cjk: Chinese text on maps and reports.
# poppler-utils (pdftotext/pdftoppm/pdffonts) and chromium: the tests read PDFs and drive
# the web map in a real browser. gdal-bin: ogr2ogr/gdaldem, the benchmarks' peers.
# zbar-tools: the tests decode the QR code printed on the wall map.
apt_install "postgresql-$PG" "postgresql-$PG-postgis-3" "postgresql-$PG-pgrouting" \
  python3 python3-venv python3-dev ca-certificates \
  fonts-noto-cjk poppler-utils chromium gdal-bin zbar-tools

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi

# Reinstall the project only when its dependency list changed.
stamp=.venv/.gongjian-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing gongjian and its Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
say "setup complete (PostgreSQL $PG with PostGIS and pgRouting; Python in .venv)"
