#!/bin/sh
# Renders nginx.conf.template into a config file. The one templating step for the nginx image
# (its CMD) and the tests (which point the upstreams at natively started services).
# Usage: render.sh TEMPLATE OUT
set -eu
template="$1"
out="$2"
: "${LISTEN_PORT:=8080}"
: "${PROXY_UPSTREAM:=stt_proxy:8080}"
: "${DETECT_UPSTREAM:=stt_tiny_ws:8003}"
: "${PANEL_ROOT:=/usr/share/vtuber-panel}"
: "${MAX_BODY_SIZE:=50m}"
: "${NGINX_RUN_DIR:=/tmp/nginx}"
: "${NGINX_ACCESS_LOG:=/dev/stdout}"
# HTTPS: TLS_CERT and TLS_KEY (PEM files, both or neither) add a TLS listener on TLS_LISTEN_PORT.
: "${TLS_CERT:=}"
: "${TLS_KEY:=}"
: "${TLS_LISTEN_PORT:=8443}"
if [ -n "$TLS_CERT" ] || [ -n "$TLS_KEY" ]; then
  for pair in "TLS_CERT:$TLS_CERT" "TLS_KEY:$TLS_KEY"; do
    name="${pair%%:*}"
    file="${pair#*:}"
    if [ -z "$file" ]; then
      echo "render.sh: $name is not set: HTTPS needs both TLS_CERT and TLS_KEY (docs/deployment.md \"TLS\")" >&2
      exit 1
    fi
    if [ ! -r "$file" ]; then
      echo "render.sh: $name $file cannot be read (mounted? readable by this user, $(id -u)?)" >&2
      exit 1
    fi
  done
  TLS_LISTEN="listen ${TLS_LISTEN_PORT} ssl;
    ssl_certificate ${TLS_CERT};
    ssl_certificate_key ${TLS_KEY};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:1m;
    ssl_session_timeout 1h;"
else
  TLS_LISTEN="# (no TLS_CERT/TLS_KEY: plain HTTP only)"
fi
export LISTEN_PORT PROXY_UPSTREAM DETECT_UPSTREAM PANEL_ROOT MAX_BODY_SIZE NGINX_RUN_DIR NGINX_ACCESS_LOG TLS_LISTEN
mkdir -p "$NGINX_RUN_DIR"
envsubst '${LISTEN_PORT} ${PROXY_UPSTREAM} ${DETECT_UPSTREAM} ${PANEL_ROOT} ${MAX_BODY_SIZE} ${NGINX_RUN_DIR} ${NGINX_ACCESS_LOG} ${TLS_LISTEN}' < "$template" > "$out"
