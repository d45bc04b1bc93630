#!/usr/bin/env bash
# Install the third-party software the e2e tests run against (Debian packages),
# only when it is missing, and print its versions. Idempotent; starts nothing.
set -euo pipefail

need=()
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# The UI's browser test drives it through Playwright (never a downloaded browser).
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "e2e setup: missing ${need[*]} and no apt-get; e2e tests will skip (or fail in CI)" >&2
    exit 0
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "e2e setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # The packages' postinst may try to start services: forbid it (policy-rc.d
  # exit 101) only for this install, and only if no policy is in place already.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ] && [ -z "$sudo" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
  trap cleanup EXIT
  mapfile -t packages < <(printf '%s\n' "${need[@]}" | sort -u)
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

prometheus-alertmanager --version 2>&1 | head -n1
amtool --version 2>&1 | head -n1
prometheus --version 2>&1 | head -n1
/usr/bin/chromium --version 2>/dev/null | head -n1

# Redmine for the ticket sink's e2e test (its own script: packages + test instance).
"$(dirname "$0")/setup_redmine.sh"
