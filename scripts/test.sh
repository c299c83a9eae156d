#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run them.
# Used by the README's test command and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
python3 -m pip install -q -e '.[test]'
export HF_HUB_OFFLINE=1
python3 -m pytest "$@"
