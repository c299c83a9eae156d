#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run them.
# Used by the README's test command and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# chromium for the browser tests; tesseract-ocr (with its English data) for OCR of scanned PDF pages.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v tesseract >/dev/null 2>&1 || missing="$missing tesseract-ocr tesseract-ocr-eng"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $missing >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq $missing >/dev/null; fi
fi
python3 -m pip install -q -e '.[test]'
export HF_HUB_OFFLINE=1
python3 -m pytest "$@"
