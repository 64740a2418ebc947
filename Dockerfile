# syntax=docker/dockerfile:1
# phonepass: one container, SQLite on the /data volume (or PostgreSQL via DATABASE_URL).
# `npm run smoke:prod` repeats the runtime stage's steps without Docker: keep them in step.
# Node 22 LTS, not 24: better-sqlite3 12 (the last major that runs on Node 20, which
# development uses) aborts on Node 24 when a statement is garbage-collected or at exit
# (`Assertion failed: (env) != nullptr` in RemoveEnvironmentCleanupHook; better-sqlite3 #1515,
# fixed in 13, which needs Node >= 22). .ci/node-lts.sh caught it. Move to 24 with better-sqlite3 13.
ARG NODE_VERSION=22
FROM node:${NODE_VERSION}-slim AS base
WORKDIR /app

# Production dependencies, compiled for this image's Node (better-sqlite3 is native: build
# tools are here in case no prebuilt binary matches).
FROM base AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

# TypeScript → dist/ (src and migrations).
FROM deps AS build
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && mkdir -p views public

FROM base AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    DATABASE_URL=sqlite:/data/phonepass.db
COPY package.json ./
COPY bin ./bin
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/views ./views
COPY --from=build /app/public ./public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "dist/src/main.js"]
