#!/usr/bin/env bash
# Runs packaging/herd-agent.service for real, under systemd, on a machine whose PID 1 is not
# systemd (a CI runner, a dev VM): boots a throwaway systemd-nspawn container over the host's
# /usr with the unit as bake.sh installs it, a stand-in /usr/local/bin/herd (dist/herd.mjs on
# the repository's Node, until the single executable is built), a static identity and a local S3
# (s3rver, outside the container, on the shared network). Rolls the sandbox probe app
# (test/fixtures/apps/sandbox-probe) and prints what it could and could not do as appUser.
#
#   npm run build && sudo scripts/unit-in-container.sh      # needs root and systemd-container
#
# Not part of npm test: it boots a container (about 20 s) and needs privileges CI may not have.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
node=$(readlink -f node_modules/.bin/node)
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 2; }
[ -f dist/herd.mjs ] || { echo "run npm run build first" >&2; exit 2; }
work=$(mktemp -d /tmp/herd-unit-XXXXXX)
s3_port=4599 health_port=19787 app_port=18080
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 3
  rm -rf "$work"
}
trap cleanup EXIT

# The container's root: a copy of /etc with no services enabled but herd's, the host's /usr
# (read-only, plus /usr/local/bin/herd and node), the repository read-only.
root=$work/root
mkdir -p "$root"/{usr,var,tmp,home,root,work,proc,sys,dev,run} "$work/usr/local/bin"
cp -a /etc "$root/etc"
rm -rf "$root"/etc/systemd/system/*.wants "$root/etc/os-release"
cp /usr/lib/os-release "$root/etc/os-release"
tr -d '-' < /proc/sys/kernel/random/uuid > "$root/etc/machine-id"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"
printf '#!/bin/sh\nexec %s %s/dist/herd.mjs "$@"\n' "$node" "$repo" > "$work/usr/local/bin/herd"
chmod 0755 "$work/usr/local/bin/herd"
ln -s "$node" "$work/usr/local/bin/node"
echo 'app:x:990:990::/nonexistent:/usr/sbin/nologin' >> "$root/etc/passwd"
echo 'app:x:990:' >> "$root/etc/group"
install -D -m 0644 packaging/herd-agent.service "$root/etc/systemd/system/herd-agent.service"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants" "$root/etc/systemd/system/herd-agent.service.d"
ln -s /etc/systemd/system/herd-agent.service "$root/etc/systemd/system/multi-user.target.wants/"
# Only here: the local S3's fixed credentials (on EC2 they come from the instance profile).
printf '[Service]\nEnvironment=AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1\n' \
  > "$root/etc/systemd/system/herd-agent.service.d/local-s3.conf"
install -d "$root/etc/herd"
cat > "$root/etc/herd/agent.json" <<EOF
{ "sources": [{ "bucket": "herd-unit", "endpoint": "http://127.0.0.1:$s3_port" }],
  "identity": { "provider": "static", "instanceId": "i-container", "role": "web" },
  "healthPort": $health_port, "appPort": $app_port, "pollIntervalS": 2 }
EOF

# The store, with the probe app published and rolled.
cat > "$work/s3.mjs" <<EOF
import { startLocalS3 } from '$repo/support/local-s3.ts';
await startLocalS3({ directory: '$work/s3', buckets: ['herd-unit'], port: $s3_port });
console.log('ready');
setInterval(() => {}, 1 << 30);
EOF
"$node" "$work/s3.mjs" > "$work/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/s3.log" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
store=(--bucket herd-unit --endpoint "http://127.0.0.1:$s3_port")
"$node" dist/herd.mjs publish "${store[@]}" --role web --code test/fixtures/apps/sandbox-probe --config examples/hello-config --release probe-1 >/dev/null
"$node" dist/herd.mjs roll "${store[@]}" --role web --release probe-1 >/dev/null 2>&1

systemd-nspawn -D "$root" --overlay-ro="/usr:$work/usr:/usr" --bind-ro="$repo" --bind-ro="$(dirname "$(dirname "$(dirname "$node")")")" \
  --register=no --keep-unit --console=passive -b > "$work/nspawn.log" 2>&1 &
pids=("$!" "${pids[@]}")
for _ in $(seq 60); do curl -sf "localhost:$health_port/healthz" >/dev/null && break; sleep 1; done
leader=$(ps -o pid= --ppid "${pids[0]}" | head -n1 | tr -d ' ')

echo "== systemctl status herd-agent (in the container)"
nsenter -t "$leader" -a systemctl --no-pager status herd-agent | sed -n 1,12p
echo "== the agent's /status"
curl -s "localhost:$health_port/status" | grep -E '"(state|healthy|release|lastError)"'
echo "== what the app could and could not do (test/fixtures/apps/sandbox-probe)"
curl -s "localhost:$app_port/probe"
