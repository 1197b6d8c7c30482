#!/usr/bin/env bash
# Run inside the image build (e.g. a Packer shell provisioner) on a Debian/Ubuntu base:
# installs herd as a systemd service and, optionally, bakes a role's current release in so
# the first boot serves even if S3 is unreachable.
#
#   HERD_MJS=/tmp/herd.mjs ./bake.sh                         # agent only
#   HERD_MJS=/tmp/herd.mjs BAKE_ROLE=web BAKE_BUCKET=acme-herd-us-east-1 ./bake.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${HERD_MJS:?set HERD_MJS to the built dist/herd.mjs}"
command -v node >/dev/null || { echo "bake.sh: node (24 or later) must be on the image" >&2; exit 2; }

id app >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin app
install -D -m 0755 "$HERD_MJS" /opt/herd/herd.mjs
install -D -m 0644 "$here/../packaging/herd-agent.service" /etc/systemd/system/herd-agent.service
if [ ! -f /etc/herd/agent.json ]; then
  install -D -m 0644 "$here/../packaging/agent.json.example" /etc/herd/agent.json
fi
install -d -m 0755 /var/lib/herd

if [ -n "${BAKE_ROLE:-}" ]; then
  node --max-semi-space-size=1 /opt/herd/herd.mjs pull --role "$BAKE_ROLE" --bucket "${BAKE_BUCKET:?}" --data-dir /var/lib/herd
fi
# An image must not carry an instance's identity into the next instance.
rm -f /var/lib/herd/identity.json
systemctl enable herd-agent.service
