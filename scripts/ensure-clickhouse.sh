#!/usr/bin/env bash
# Installs Debian's clickhouse-server when no ClickHouse server binary is
# present. The package's own service start fails under policy-rc.d in
# containers; that is harmless: Sawmill starts its own private server.
set -euo pipefail
for p in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server clickhouse /usr/bin/clickhouse; do
  if command -v "$p" >/dev/null 2>&1; then exit 0; fi
done
echo "clickhouse-server not found: installing it with apt-get" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null || {
  # The post-install script may fail to start the system service; the
  # binary is what we need.
  command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]
}
