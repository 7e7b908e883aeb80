#!/usr/bin/env bash
# Installs Debian's clickhouse-server when no ClickHouse server binary is
# present, curl (the README walkthrough and its test use it), and rsyslog
# and logger (bsdutils; the syslog ingest tests run them as real clients),
# and Debian's python3-django, python3-celery and python3-pythonjsonlogger
# (the Python SDK tests), and zookeeper (the ClickHouse cluster tests). The
# package's own service start fails under policy-rc.d in
# containers; that is harmless: Sawmill starts its own private server.
set -euo pipefail
have_clickhouse() {
  for p in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server clickhouse /usr/bin/clickhouse; do
    if command -v "$p" >/dev/null 2>&1; then return 0; fi
  done
  return 1
}
pkgs=""
have_clickhouse || pkgs="clickhouse-server clickhouse-client"
command -v curl >/dev/null 2>&1 || pkgs="$pkgs curl"
have_rsyslogd() { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; }
have_rsyslogd || pkgs="$pkgs rsyslog"
command -v logger >/dev/null 2>&1 || pkgs="$pkgs bsdutils"
command -v python3 >/dev/null 2>&1 || pkgs="$pkgs python3"
# The Python SDK's tests run Django and Celery under Debian's interpreter.
have_pymods() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import django, celery, pythonjsonlogger' >/dev/null 2>&1; }
have_pymods || pkgs="$pkgs python3-django python3-celery python3-pythonjsonlogger"
# The ClickHouse cluster tests coordinate replicas with Debian's ZooKeeper (Java).
have_zookeeper() { [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; }
have_zookeeper || pkgs="$pkgs zookeeper"
[ -n "$pkgs" ] || exit 0
echo "installing with apt-get:$pkgs" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq $pkgs >/dev/null || {
  # The post-install script may fail to start the system service; the
  # binary is what we need.
  have_clickhouse && command -v curl >/dev/null 2>&1 && have_rsyslogd && command -v logger >/dev/null 2>&1 && have_pymods && have_zookeeper
}
