#!/usr/bin/env bash
# Quick start 2: set up (Python packages, and Dovecot for the IMAP tests), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # The packaged service is not wanted: the tests start their own Dovecot on a free loopback port.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dovecot-imapd openssl >/dev/null
fi
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
