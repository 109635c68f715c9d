# syntax=docker/dockerfile:1.7
#
# The admin panel's image (panel/, Next.js), from the repository root:
#
#   docker build -f deploy/docker/panel.Dockerfile -t analytics/panel:$TAG .
#
# `next build` with output "standalone" (PANEL_STANDALONE=1, see
# panel/next.config.ts) keeps the server and only the node_modules it uses;
# distroless Node.js runs it: no shell, no package manager, user 65532.
# Everything else comes from the environment at run time (QUERY_URL,
# ANALYTICS_SITE, ANALYTICS_TOKEN, ANALYTICS_ADMIN_TOKEN, PANEL_PASSWORD:
# panel/README.md), so no token or password is built in. The root filesystem
# can be read-only (k8s/base/panel.yaml mounts /app/.next/cache and /tmp).

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src/panel
COPY panel/package.json panel/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --loglevel=error
COPY panel/ ./
ENV NEXT_TELEMETRY_DISABLED=1 PANEL_STANDALONE=1
# The standalone server does not carry the browser's files: copy them in. An
# empty, writable .next/cache for a container run without a volume there.
RUN node_modules/.bin/next build \
 && cp -r .next/static .next/standalone/.next/static \
 && mkdir -p /empty

FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot AS panel
WORKDIR /app
# Owned by root: the server's own user cannot change its code.
COPY --from=build /src/panel/.next/standalone/ /app/
COPY --from=build --chown=65532:65532 /empty /app/.next/cache
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=3000 HOSTNAME=0.0.0.0
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/nodejs/bin/node", "/app/server.js"]
