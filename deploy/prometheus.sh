#!/bin/sh
# Installs the Prometheus server the tests and the demo run (Debian's `prometheus` package).
# The package's systemd service is not used: novaflow starts the binary itself, on a free
# loopback port with its own data directory (novaflow/sim/prometheus.py).
set -eu
if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "deploy/prometheus.sh: installing Debian's prometheus package" >&2
# Whether the package's own service starts or not does not matter: nothing uses its port.
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]
