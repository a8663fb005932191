# syntax=docker/dockerfile:1
# One build for the whole stack. Targets:
#   runtime  the Node services (cpu_ws, tiny_ws, proxy, the models one-shot); CMD picks cpu_ws
#   gpu      the same code on the CUDA runtime, with the CUDA build of whisper.cpp
#   nginx    the front door: control panel + reverse proxy (unprivileged nginx)
ARG NODE_IMAGE=node:20.19.0-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27.4-alpine

# Manifests first, so source edits do not re-run npm ci.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY stt/core/package.json stt/core/
COPY stt/cpu_ws/package.json stt/cpu_ws/
COPY stt/gpu_ws/package.json stt/gpu_ws/
COPY stt/tiny_ws/package.json stt/tiny_ws/
COPY stt/proxy/package.json stt/proxy/
COPY client/audio_streaming_input/package.json client/audio_streaming_input/

FROM manifests AS deps
RUN npm ci --omit=dev --no-audit --no-fund

FROM manifests AS panel
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY stt stt
COPY control-panel control-panel
RUN npm run build:panel

FROM ${NODE_IMAGE} AS runtime
# MALLOC_MMAP_THRESHOLD_: every service of the image; see stt/core/src/engine/allocator.ts (a fixed threshold keeps RSS flat).
ENV NODE_ENV=production HOST=0.0.0.0 STT_MODEL_DIR=/models MALLOC_MMAP_THRESHOLD_=131072
# ffmpeg decodes compressed REST uploads (mp3, m4a, webm, ogg, flac, ...) in a subprocess on the proxy;
# libspeexdsp1 is the acoustic echo canceller (the VTuber's own voice), loaded through koffi.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg libspeexdsp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json .npmrc ./
COPY stt stt
COPY client client
COPY --from=panel /app/control-panel/dist control-panel/dist
RUN mkdir -p /models /data && chown node:node /models /data
USER node
# Healthy only once the model is loaded and a warm-up decode ran (/ready).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8001)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
EXPOSE 8001
CMD ["node", "--import", "tsx", "stt/cpu_ws/src/main.ts"]

FROM deps AS gpudeps
# Prebuilt CUDA build of whisper.cpp (pulls @fugood/node-whisper-linux-x64-cuda).
RUN npm install --no-save --omit=dev --no-audit --no-fund @fugood/whisper.node@1.1.3

FROM ${NODE_IMAGE} AS node
FROM ${CUDA_IMAGE} AS gpu
ENV NODE_ENV=production HOST=0.0.0.0 STT_MODEL_DIR=/models STT_DEVICE=gpu MALLOC_MMAP_THRESHOLD_=131072
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# libspeexdsp1: the acoustic echo canceller (the VTuber's own voice), loaded through koffi.
RUN apt-get update && apt-get install -y --no-install-recommends libspeexdsp1 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 1000 --create-home app && mkdir -p /models && chown app:app /models
WORKDIR /app
COPY --from=gpudeps /app/node_modules node_modules
COPY package.json .npmrc ./
COPY stt stt
USER app
HEALTHCHECK --interval=10s --timeout=3s --start-period=180s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8002)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
EXPOSE 8002
CMD ["node", "--import", "tsx", "stt/gpu_ws/src/main.ts"]

FROM ${NGINX_IMAGE} AS nginx
COPY nginx/nginx.conf.template nginx/render.sh /opt/vtuber/
COPY --from=panel /app/control-panel/dist /usr/share/vtuber-panel
ENV LISTEN_PORT=8080 PROXY_UPSTREAM=stt_proxy:8080 DETECT_UPSTREAM=stt_tiny_ws:8003 \
    PANEL_ROOT=/usr/share/vtuber-panel MAX_BODY_SIZE=50m NGINX_RUN_DIR=/tmp/nginx NGINX_ACCESS_LOG=/dev/stdout
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD wget -qO- http://127.0.0.1:8080/nginx-health || exit 1
EXPOSE 8080
CMD ["/bin/sh", "-c", "/bin/sh /opt/vtuber/render.sh /opt/vtuber/nginx.conf.template /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf -g 'daemon off;'"]
