# tokenproxy container image: built with dev dependencies, run as non-root from one bundled file
# (dist/cli.js holds tokenproxy and every dependency: the runtime stage has no node_modules).
#
#   docker build -t tokenproxy:0.1.0 .
#   docker run --rm -v "$PWD/my-config.yaml:/etc/tokenproxy/config.yaml:ro" -p 127.0.0.1:8080:8080 -p 127.0.0.1:9901:9901 tokenproxy:0.1.0
#     (my-config.yaml binds listen and admin to 0.0.0.0: in a container, 127.0.0.1 is the container itself)
#   docker run --rm -e REGISTRY_CLIENT_SECRET=x tokenproxy:0.1.0 check --config config/registry.yaml
#     (the examples ship in /app/config and take their secrets from the environment: without -e, check
#     reports REGISTRY_CLIENT_SECRET as not set and exits 2)
#
# Base: a maintained Node LTS (Node 20 reached end of life in April 2026). The tag is not pinned to a
# digest here; pin it (node:24-slim@sha256:...) in your registry mirror for reproducible builds.

# ---- build: type-check, then bundle the CLI and its dependencies into one file ----
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle ./scripts/bundle
# `npm ci` runs the `prepare` script: tsc, then esbuild writes dist/cli.js with every dependency inside.
RUN npm ci --no-audit --no-fund

# ---- runtime ----
FROM node:24-slim
LABEL org.opencontainers.image.title="tokenproxy" \
      org.opencontainers.image.description="Authentication sidecar: injects fresh Keycloak, REGARDS and walt.id bearer tokens into a legacy app's plain HTTP requests" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24-slim"
ENV NODE_ENV=production \
    TOKENPROXY_ADMIN_PORT=9901
WORKDIR /app
# The bundle is the whole program: no node_modules in the image. package.json makes dist/cli.js an
# ES module and gives --version. Owned by root and read-only for the process: it cannot modify itself.
COPY --from=build /app/package.json ./
COPY --from=build /app/dist/cli.js ./dist/cli.js
COPY config ./config
# uid/gid 1000 is the image's `node` user. Numeric, so Kubernetes `runAsNonRoot` can verify it.
USER 1000:1000
# 8080: the proxy listener; 9901: the admin listener (/healthz, /readyz, /metrics). In a container the
# config must bind 0.0.0.0 for other containers to reach them (see config/compose.yaml).
EXPOSE 8080 9901
# Liveness, not readiness: an identity-service outage must not get the sidecar restarted. No curl in the
# image: Node's fetch does it. TOKENPROXY_ADMIN_PORT must match `admin.port` in your config
# (config/compose.yaml reads the same variable, so one setting moves both).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.TOKENPROXY_ADMIN_PORT || '9901') + '/healthz', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "--config", "/etc/tokenproxy/config.yaml"]
