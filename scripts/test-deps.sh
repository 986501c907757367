#!/usr/bin/env bash
# Installs what `make test` needs beyond Rust: Chromium and chromedriver (Debian packages) for the
# browser tests, promtool (Debian package prometheus) that checks the /metrics output, axe-core (from npm, pinned in package-lock.json) that they run in every page, oauth2-mock-server (from npm, the same lock) as the OpenID Connect provider of the single sign-on tests, and
# schemathesis, chaostoolkit and aiosmtpd (from PyPI, pinned in tests/tools/requirements.txt, into .venv/) that test the JSON API, the Chaos Toolkit import and export, and e-mail over SMTP,
# curl and jq (Debian packages) with which docs/automate-a-game-day.md's examples run, nginx-light (Debian package) in front of two instances, and
# sqlx-cli (from crates.io) for the check that `.sqlx/` is fresh.
set -euo pipefail

say() { echo "test-deps: $*" >&2; }
die() { say "$*"; exit 1; }

SQLX_VERSION=0.8.6

apt_install() {
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    die "missing: $* — install them (Debian: 'sudo apt-get install $*') and run 'make test' again"
  fi
}

if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }; then
  say "installing chromium and chromium-driver for the browser tests"
  apt_install chromium chromium-driver >&2
fi

if ! command -v jq >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  say "installing curl and jq (the API guide's examples run as written)"
  apt_install curl jq >&2
fi

if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
  say "installing nginx-light (two instances behind a reverse proxy, as docs/deployment.md sets them up)"
  apt_install --no-install-recommends nginx-light >&2
fi

if ! command -v promtool >/dev/null 2>&1; then
  say "installing prometheus (for promtool, which checks the /metrics output)"
  apt_install --no-install-recommends prometheus >&2
fi

if ! command -v npm >/dev/null 2>&1; then
  say "installing nodejs and npm for the accessibility checks (axe-core) and the OpenID Connect provider of the tests"
  apt_install nodejs npm >&2
fi

# node_modules/ is made from package-lock.json alone; it is made again only when the lock changed.
cd "$(dirname "$0")/.."
if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
  say "installing axe-core and oauth2-mock-server from package-lock.json (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json node_modules/.installed-lock.json
fi

if ! cargo sqlx --version 2>/dev/null | grep -q " $SQLX_VERSION"; then
  say "installing sqlx-cli $SQLX_VERSION (once; about two minutes)"
  cargo install sqlx-cli --version "$SQLX_VERSION" --locked --no-default-features --features postgres,rustls >&2
fi

# .venv/ holds the Python tools (schemathesis, chaostoolkit), made from tests/tools/requirements.txt (every
# version pinned); it is made again only when that file changed.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "installing python3-venv for the API's schemathesis run"
  apt_install python3 python3-venv >&2
fi
if ! cmp -s tests/tools/requirements.txt .venv/.installed-requirements.txt; then
  say "installing schemathesis, chaostoolkit and aiosmtpd into .venv/ from tests/tools/requirements.txt"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --no-input -r tests/tools/requirements.txt >&2
  cp tests/tools/requirements.txt .venv/.installed-requirements.txt
fi
