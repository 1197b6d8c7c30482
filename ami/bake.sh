#!/usr/bin/env bash
# Run inside the image build (e.g. a Packer shell provisioner) on a Debian/Ubuntu base:
# installs herd as a systemd service and, optionally, bakes a role's current release in so
# the first boot serves even if S3 is unreachable.
#
#   HERD_BIN=/tmp/herd ./bake.sh                         # agent only
#   HERD_BIN=/tmp/herd BAKE_ROLE=web BAKE_BUCKET=acme-herd-us-east-1 ./bake.sh
# HERD_BIN is the single executable dist/herd: the image needs no Node.js. When its
# dist/herd.sha256 sits beside it, the copy is checked against it first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${HERD_BIN:?set HERD_BIN to the built dist/herd}"
if [ -f "$HERD_BIN.sha256" ]; then
  echo "$(cut -d' ' -f1 "$HERD_BIN.sha256")  $HERD_BIN" | sha256sum --check --quiet - ||
    { echo "bake.sh: $HERD_BIN does not match $HERD_BIN.sha256" >&2; exit 1; }
fi

id app >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin app
install -D -m 0755 "$HERD_BIN" /usr/local/bin/herd
install -D -m 0644 "$here/../packaging/herd-agent.service" /etc/systemd/system/herd-agent.service
if [ ! -f /etc/herd/agent.json ]; then
  install -D -m 0644 "$here/../packaging/agent.json.example" /etc/herd/agent.json
fi
install -d -m 0755 /var/lib/herd

if [ -n "${BAKE_ROLE:-}" ]; then
  /usr/local/bin/herd pull --role "$BAKE_ROLE" --bucket "${BAKE_BUCKET:?}" --data-dir /var/lib/herd
fi
# An image must not carry an instance's identity into the next instance.
rm -f /var/lib/herd/identity.json
systemctl enable herd-agent.service
