#!/bin/sh
# Install the OpenSSH server and adb used by the device tests (Debian or Ubuntu, run as root).
# The tests start their own sshd on 127.0.0.1; this script only installs the binaries.
set -eu
if [ ! -x /usr/sbin/sshd ] || ! command -v adb >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client adb
fi
# sshd refuses to start without its privilege separation folder.
mkdir -p /run/sshd
chmod 0755 /run/sshd
