#!/usr/bin/env bash
# Run as root inside an image build (ami/herd.pkr.json runs it; a Debian 12 or Amazon Linux 2023
# base, x86_64): installs the herd executable and its systemd service, creates the `app` user,
# writes the agent's config and, optionally, bakes a role's current release in so the first boot
# serves even if S3 is unreachable. ami/seal.sh then removes the build instance's identity.
#
#   ./bake.sh                                                 # agent only; config: the example (edit it!)
#   HERD_BUCKET=acme-herd HERD_REGION=us-east-1 ./bake.sh     # config: that bucket as the only source
#   HERD_BUCKET=acme-herd BAKE_ROLE=web ./bake.sh             # and bake web's current release in
#   HERD_AGENT_CONFIG=/tmp/agent.json ./bake.sh               # your own config file
#
# HERD_BIN is the executable (default: dist/herd beside this directory, where the Packer template
# uploads it); HERD_PREFIX the key prefix (default herd). `herd pull` needs read access to the
# bucket (an instance profile on the build instance).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${HERD_BIN:-$here/../dist/herd}
[ -x "$bin" ] || { echo "bake.sh: $bin: no such executable (set HERD_BIN to the dist/herd npm run build writes)" >&2; exit 2; }
# When dist/herd.sha256 was copied beside it, the copy must match it.
if [ -f "$bin.sha256" ]; then
  echo "$(cut -d' ' -f1 "$bin.sha256")  $bin" | sha256sum --check --quiet - ||
    { echo "bake.sh: $bin does not match $bin.sha256" >&2; exit 1; }
fi

id app >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
install -D -m 0755 "$bin" /usr/local/bin/herd
install -D -m 0644 "$here/../packaging/herd-agent.service" /etc/systemd/system/herd-agent.service

bucket=${HERD_BUCKET:-}
prefix=${HERD_PREFIX:-herd}
region=${HERD_REGION:-}
# They go into JSON and onto a command line: only what S3 and herd accept anyway.
[[ -z $bucket || $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || { echo "bake.sh: HERD_BUCKET \"$bucket\" is not a bucket name" >&2; exit 2; }
[[ $prefix =~ ^[A-Za-z0-9._/-]*$ ]] || { echo "bake.sh: HERD_PREFIX \"$prefix\" may hold only A-Z a-z 0-9 . _ - /" >&2; exit 2; }
[[ $region =~ ^[a-z0-9-]*$ ]] || { echo "bake.sh: HERD_REGION \"$region\" is not a region" >&2; exit 2; }

if [ -n "${HERD_AGENT_CONFIG:-}" ]; then
  install -D -m 0644 "$HERD_AGENT_CONFIG" /etc/herd/agent.json
elif [ -n "$bucket" ]; then
  install -d -m 0755 /etc/herd
  printf '{\n  "sources": [{ "bucket": "%s", "prefix": "%s"%s }]\n}\n' "$bucket" "$prefix" \
    "${region:+, \"region\": \"$region\"}" > /etc/herd/agent.json
  chmod 0644 /etc/herd/agent.json
elif [ ! -f /etc/herd/agent.json ]; then
  install -D -m 0644 "$here/../packaging/agent.json.example" /etc/herd/agent.json
  echo "bake.sh: warning: /etc/herd/agent.json is packaging/agent.json.example (acme-herd-* buckets); set HERD_BUCKET or HERD_AGENT_CONFIG" >&2
fi
install -d -m 0755 /var/lib/herd

if [ -n "${BAKE_ROLE:-}" ]; then
  [ -n "$bucket" ] || { echo "bake.sh: BAKE_ROLE needs HERD_BUCKET" >&2; exit 2; }
  /usr/local/bin/herd pull --role "$BAKE_ROLE" --bucket "$bucket" --prefix "$prefix" ${region:+--region "$region"} --data-dir /var/lib/herd
fi
# An image must not carry an instance's identity into the next instance (ami/seal.sh does the rest).
rm -f /var/lib/herd/identity.json
systemctl enable herd-agent.service
