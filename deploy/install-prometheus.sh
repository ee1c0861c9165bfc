#!/usr/bin/env bash
# promtool (alert-rule tests, metrics lint) and the prometheus binary (job tests start their own server),
# from Debian's `prometheus` package. Nothing to do when both are on PATH.
#
# lakegate needs the binaries, not a service: on a host with an init system the package's postinst starts
# and enables one, so a server the install started is stopped and disabled again.
set -euo pipefail

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  cat >&2 <<'EOF'
promtool and prometheus are not on PATH, and installing them needs root. Either
  sudo apt-get install --no-install-recommends prometheus
or put promtool and prometheus from https://prometheus.io/download/ on PATH, then run `make setup` again.
EOF
  exit 2
fi

# The package's service runs as user prometheus; servers that tests start run as whoever runs the tests.
servers() { pgrep -x -u prometheus prometheus 2>/dev/null || true; }
before=" $(servers | tr '\n' ' ')"

echo "installing: prometheus (for promtool)"
apt-get update -qq
# --no-install-recommends: the recommendation is prometheus-node-exporter, another service nobody asked for.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus

started=()
for pid in $(servers); do
  case "$before" in *" $pid "*) ;; *) started+=("$pid") ;; esac
done
if [ ${#started[@]} -gt 0 ]; then
  echo "stopping the Prometheus server the package started (pid ${started[*]}): lakegate needs only promtool"
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  kill "${started[@]}" 2>/dev/null || true  # whatever the service manager did not stop
  for _ in $(seq 20); do
    kill -0 "${started[@]}" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "${started[@]}" 2>/dev/null; then
    echo "a Prometheus server the install started is still running (pid ${started[*]}); stop it" >&2
    exit 2
  fi
fi

command -v promtool >/dev/null || { echo "the prometheus package installed no promtool on PATH" >&2; exit 2; }
