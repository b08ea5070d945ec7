#!/usr/bin/env bash
# Screenshots DIR/report.html (written by fundtrail-audit) with headless
# Chromium into DIR/report.png, and fails if the page logged a console error.
# Installs Debian's chromium when it is missing. The page must load nothing
# from the network; the flags keep Chromium itself from phoning home too.
set -euo pipefail

dir=${1:?usage: scripts/report-screenshot.sh DIR (containing report.html)}
dir=$(cd "$dir" && pwd)
page="$dir/report.html"
shot="$dir/report.png"
[ -f "$page" ] || { echo "report-screenshot: $page not found" >&2; exit 1; }

find_chromium() { command -v chromium || command -v chromium-browser || true; }

browser=$(find_chromium)
if [ -z "$browser" ]; then
  echo "report-screenshot: installing chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  browser=$(find_chromium)
  [ -n "$browser" ] || { echo "report-screenshot: chromium did not install" >&2; exit 1; }
fi

profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$shot"

if ! "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --host-resolver-rules='MAP * ~NOTFOUND' \
  --user-data-dir="$profile" --enable-logging=stderr --v=0 \
  --screenshot="$shot" --window-size=1280,2400 "file://${page// /%20}" 2>"$log"; then
  cat "$log" >&2
  echo "report-screenshot: chromium failed" >&2
  exit 1
fi

# Chromium logs console.error() as INFO without an ERROR tag, and the report
# runs no script, so any console message from the page counts as an error.
if grep -E 'CONSOLE' "$log" | grep -E 'ERROR|Uncaught|source: file://' >&2; then
  echo "report-screenshot: the page logged console errors (above)" >&2
  exit 1
fi
[ -s "$shot" ] || { cat "$log" >&2; echo "report-screenshot: no screenshot written" >&2; exit 1; }
echo "report-screenshot: $shot"
