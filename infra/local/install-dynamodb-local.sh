#!/usr/bin/env bash
# Installs DynamoDB Local for the integration tests: AWS's own jar, as shipped
# in the npm package amplify-dynamodb-simulator (its emulator/ folder), plus a
# Java runtime from apt when the machine has none.
#
#   infra/local/install-dynamodb-local.sh [DEST]
#
# DEST defaults to .cache/dynamodb-local in the repository; it ends up holding
# DynamoDBLocal.jar and DynamoDBLocal_lib/. The npm tarball stays beside it in
# .cache/, so a second run, or a re-extract after DEST was removed, needs no
# network. Run it as often as you like: it does nothing when DEST is in place.
set -euo pipefail

# Pinned: bump both together (npm view amplify-dynamodb-simulator@X dist.integrity
# gives the same digest, base64-encoded).
SIMULATOR_VERSION=2.9.30
SIMULATOR_SHA512=c5379e44bbf311fab2779961ddb1f8734907bd21c79a6843e590ec1c5280439836665e89aa515dbad6908422c7cf1129e91cb5a3b4c1ea7888a17b9002749ec1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-$repo/.cache/dynamodb-local}
cache=$(dirname "$dest")
tarball=$cache/amplify-dynamodb-simulator-$SIMULATOR_VERSION.tgz
stamp=$dest/.offpush-version

# apt_install PKG... installs Debian packages (root, or through sudo).
apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install $* (needs root)" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v java >/dev/null; then
  echo "java not found: installing openjdk-17-jre-headless"
  apt_install openjdk-17-jre-headless
fi

if [[ -f $dest/DynamoDBLocal.jar && -d $dest/DynamoDBLocal_lib && $(cat "$stamp" 2>/dev/null) == "$SIMULATOR_VERSION" ]]; then
  echo "DynamoDB Local (amplify-dynamodb-simulator $SIMULATOR_VERSION): $dest"
  exit 0
fi

mkdir -p "$cache"
if [[ ! -f $tarball ]] || ! echo "$SIMULATOR_SHA512  $tarball" | sha512sum --check --status; then
  command -v npm >/dev/null || apt_install npm
  echo "npm pack amplify-dynamodb-simulator@$SIMULATOR_VERSION"
  rm -f "$tarball"
  (cd "$cache" && npm pack --silent --ignore-scripts "amplify-dynamodb-simulator@$SIMULATOR_VERSION" >/dev/null)
fi
if ! echo "$SIMULATOR_SHA512  $tarball" | sha512sum --check --status; then
  echo "$tarball: SHA-512 is not the pinned one" >&2
  exit 1
fi

# Extract into a temporary sibling, then swap it in: an interrupted run never
# leaves a half-extracted DEST that the check above would take as complete.
tmp=$(mktemp -d "$cache/.dynamodb-local.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp" package/emulator
echo "$SIMULATOR_VERSION" >"$tmp/package/emulator/.offpush-version"
rm -rf "$dest"
mv "$tmp/package/emulator" "$dest"
echo "DynamoDB Local (amplify-dynamodb-simulator $SIMULATOR_VERSION): $dest"
