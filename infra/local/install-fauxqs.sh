#!/usr/bin/env bash
# Installs fauxqs, the SQS emulator the queue integration tests run against,
# from npm with the machine's Node.js.
#
#   infra/local/install-fauxqs.sh [DEST]
#
# DEST defaults to .cache/fauxqs in the repository; it ends up holding
# node_modules/fauxqs (started as `node DEST/node_modules/fauxqs/dist/cli.js`).
# Run it as often as you like: it does nothing when DEST holds the pinned
# version.
set -euo pipefail

# Pinned: 1.9.x runs on Node 20; fauxqs 2.x needs Node >= 22.5.
FAUXQS_VERSION=1.9.2
NODE_MIN_MAJOR=20

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-$repo/.cache/fauxqs}
stamp=$dest/.offpush-version
cli=$dest/node_modules/fauxqs/dist/cli.js

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found: fauxqs needs Node.js $NODE_MIN_MAJOR or later with npm (for example apt-get install nodejs npm)" >&2
    exit 1
  fi
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < NODE_MIN_MAJOR)); then
  echo "node $(node --version) is too old: fauxqs $FAUXQS_VERSION needs Node.js $NODE_MIN_MAJOR or later" >&2
  exit 1
fi

if [[ -f $cli && $(cat "$stamp" 2>/dev/null) == "$FAUXQS_VERSION" ]]; then
  echo "fauxqs $FAUXQS_VERSION: $dest"
  exit 0
fi

# Install into a temporary sibling, then swap it in: an interrupted run never
# leaves a half-installed DEST that the check above would take as complete.
cache=$(dirname "$dest")
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fauxqs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "npm install fauxqs@$FAUXQS_VERSION"
npm install --prefix "$tmp" --no-audit --no-fund --save-exact "fauxqs@$FAUXQS_VERSION"
installed=$(node -p 'require(process.argv[1]).version' "$tmp/node_modules/fauxqs/package.json")
if [[ $installed != "$FAUXQS_VERSION" || ! -f $tmp/node_modules/fauxqs/dist/cli.js ]]; then
  echo "npm installed fauxqs $installed, not $FAUXQS_VERSION with dist/cli.js" >&2
  exit 1
fi
echo "$FAUXQS_VERSION" >"$tmp/.offpush-version"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "fauxqs $FAUXQS_VERSION: $dest"
