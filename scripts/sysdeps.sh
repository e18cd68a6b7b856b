#!/usr/bin/env bash
# Installs what the project needs beyond Python packages. Idempotent and quiet when
# everything is present; explains what to do when it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Usage: sysdeps.sh [--test]   (--test adds what only the test suite needs)
with_test=0; [[ "${1:-}" == "--test" ]] && with_test=1

need_apt=()
for pair in $(grep -v '^#' scripts/apt-packages.txt); do
  if [[ "$pair" == test:* ]]; then ((with_test)) || continue; pair=${pair#test:}; fi
  probe=${pair%%=*}; pkg=${pair##*=}
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] || need_apt+=("$pkg")
  else command -v "$probe" >/dev/null 2>&1 || need_apt+=("$pkg"); fi
done

if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "sysdeps: installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    echo "sysdeps: installing ${need_apt[*]} with sudo apt-get" >&2
    sudo apt-get update -qq >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "sysdeps: missing system packages: ${need_apt[*]}" >&2
    echo "sysdeps: install them with your package manager (Debian/Ubuntu: apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

# npm assets (KaTeX CSS and fonts), pinned in package.json / package-lock.json.
if [[ -f package-lock.json ]] && { [[ ! -f node_modules/.installed ]] || [[ package-lock.json -nt node_modules/.installed ]]; }; then
  if ! command -v npm >/dev/null; then
    echo "sysdeps: npm is needed for the KaTeX assets (Debian: apt-get install npm)" >&2; exit 1
  fi
  npm ci --silent --no-audit --no-fund >/dev/null
  touch node_modules/.installed
fi
