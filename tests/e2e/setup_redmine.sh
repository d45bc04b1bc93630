#!/usr/bin/env bash
# Install Redmine from the Debian packages (redmine, redmine-sqlite, thin) and
# prepare a Redmine instance for autoticket's e2e tests; print the versions.
# Idempotent: installs only what is missing, builds the template once. Starts
# nothing: each test session copies the template database and runs its own
# server (tests/e2e/redmine.py).
#
# The instance `autoticket-test` reads its SQLite path from the environment
# (AUTOTICKET_REDMINE_DB), so every session works on a copy of the template:
# migrated, default data loaded (trackers, statuses New … Closed, Rejected,
# priorities Low … Immediate), REST API on, admin's API key in $KEY_FILE.
set -euo pipefail

INSTANCE=autoticket-test
REDMINE=/usr/share/redmine
DATA=/var/lib/redmine/$INSTANCE
TEMPLATE=$DATA/template.sqlite3
KEY_FILE=$DATA/admin_api_key

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# The configure step of the package can stop on Bundler::GemNotFound for a gem
# Debian ships as a specification without its (empty) gem folder. Create the
# folders it names beside their specifications and configure again.
fix_missing_gem_folders() {
  local attempt output missing spec
  for attempt in 1 2 3 4 5; do
    if output=$($sudo dpkg --configure -a 2>&1); then
      return 0
    fi
    mapfile -t missing < <(printf '%s\n' "$output" |
      grep -oE 'Could not find ([A-Za-z0-9_.-]+-[0-9][A-Za-z0-9_.]*)' | awk '{print $4}' | sort -u)
    if [ "${#missing[@]}" -eq 0 ]; then
      printf '%s\n' "$output" >&2
      return 1
    fi
    for gem in "${missing[@]}"; do
      spec=$(find /usr/share/rubygems-integration /usr/lib/ruby /var/lib/gems \
        -name "$gem.gemspec" -path '*specifications*' 2>/dev/null | head -n1 || true)
      if [ -n "$spec" ]; then
        echo "redmine setup: creating the empty gem folder for $gem (Bundler::GemNotFound)"
        $sudo mkdir -p "$(dirname "$(dirname "$spec")")/gems/$gem"
      fi
    done
  done
  return 1
}

configured() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

need=()
for package in redmine redmine-sqlite thin; do
  configured "$package" || need+=("$package")
done

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "redmine setup: missing ${need[*]} and no apt-get; Redmine e2e tests will skip" >&2
    exit 0
  fi
  started=$(date +%s)
  echo "redmine setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # dbconfig-common: SQLite for the package's own default instance.
  $sudo debconf-set-selections <<'EOF'
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
EOF
  $sudo apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ] && [ -z "$sudo" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
  trap cleanup EXIT
  $sudo apt-get install -y -qq --no-install-recommends redmine redmine-sqlite thin ||
    fix_missing_gem_folders
  configured redmine || fix_missing_gem_folders
  echo "redmine setup: installed in $(($(date +%s) - started))s"
fi

rails() {
  (cd "$REDMINE" && $sudo env REDMINE_INSTANCE=$INSTANCE RAILS_ENV=production \
    AUTOTICKET_REDMINE_DB="$TEMPLATE" REDMINE_LANG=en "$@")
}

if [ ! -s "$TEMPLATE" ] || [ ! -s "$KEY_FILE" ]; then
  started=$(date +%s)
  echo "redmine setup: building the test instance's template database"
  [ -d "$REDMINE/instances/$INSTANCE" ] || $sudo "$REDMINE/bin/redmine-instances" create "$INSTANCE"
  config=/etc/redmine/$INSTANCE
  $sudo mkdir -p "$config" "$DATA"
  $sudo tee "$config/database.yml" >/dev/null <<'EOF'
# autoticket's e2e tests: every session points AUTOTICKET_REDMINE_DB at its own copy.
production:
  adapter: sqlite3
  database: <%= ENV.fetch('AUTOTICKET_REDMINE_DB') %>
  encoding: utf8
  timeout: 5000
EOF
  if [ ! -s "$config/secret_key.txt" ]; then
    head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' | $sudo tee "$config/secret_key.txt" >/dev/null
  fi
  $sudo rm -f "$TEMPLATE" "$KEY_FILE"
  rails bundle exec rake db:migrate >/dev/null
  rails bundle exec rake redmine:load_default_data >/dev/null
  rails bundle exec rails runner '
    Setting.rest_api_enabled = "1"
    Setting.login_required = "1"
    admin = User.find_by_login("admin")
    admin.must_change_passwd = false
    admin.save!
    File.write(ARGV[0], admin.api_key)
  ' "$KEY_FILE"
  $sudo chmod 644 "$TEMPLATE" "$KEY_FILE"
  echo "redmine setup: template ready in $(($(date +%s) - started))s"
fi

echo "redmine $(dpkg-query -W -f='${Version}' redmine), thin $(dpkg-query -W -f='${Version}' thin), $(ruby -v | cut -d' ' -f1-2)"
