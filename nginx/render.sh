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
export LISTEN_PORT PROXY_UPSTREAM DETECT_UPSTREAM PANEL_ROOT MAX_BODY_SIZE NGINX_RUN_DIR NGINX_ACCESS_LOG
mkdir -p "$NGINX_RUN_DIR"
envsubst '${LISTEN_PORT} ${PROXY_UPSTREAM} ${DETECT_UPSTREAM} ${PANEL_ROOT} ${MAX_BODY_SIZE} ${NGINX_RUN_DIR} ${NGINX_ACCESS_LOG}' < "$template" > "$out"
