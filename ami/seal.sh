#!/usr/bin/env bash
# Run as root as the last step of an image build (ami/herd.pkr.json does, after bake.sh): removes
# what belongs to the build instance, so that every instance started from the image is a new
# machine with its own identity: herd's saved instance identity, cloud-init's per-instance
# state (so it runs again, sets the hostname and regenerates SSH host keys), the machine id,
# the SSH host keys, DHCP leases, the random seed, and the build's logs and shell history.
set -euo pipefail

systemctl stop herd-agent.service 2>/dev/null || true
rm -f /var/lib/herd/identity.json /var/lib/herd/app.pid

if command -v cloud-init >/dev/null; then
  cloud-init clean --logs --seed
fi
# "uninitialized", not an empty or missing file: systemd (247+) then generates a fresh id at the
# next boot and treats it as a first boot (cloud-init 22.4's --machine-id deletes the file).
printf 'uninitialized\n' > /etc/machine-id
rm -f /var/lib/systemd/random-seed
rm -f /etc/ssh/ssh_host_*
rm -f /var/lib/dhcp/*.leases /var/lib/dhclient/*.leases
rm -rf /tmp/herd-image
rm -f /root/.bash_history /home/*/.bash_history
journalctl --rotate >/dev/null 2>&1 && journalctl --vacuum-time=1s >/dev/null 2>&1 || true
