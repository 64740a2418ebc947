# syntax=docker/dockerfile:1
# phonepass: one container, SQLite on the /data volume (or PostgreSQL via DATABASE_URL).
# `npm run smoke:prod` repeats the runtime stage's steps without Docker: keep them in step.
# Node 24 LTS. better-sqlite3 12 (node::ObjectWrap) can abort on Node 24 when a statement is
# collected outside JavaScript (nodejs/node#65446, better-sqlite3 #1515); from Node 22 on,
# phonepass loads better-sqlite3 13 instead (Node-API, its binaries inside the package: nothing
# to compile), installed beside 12 as better-sqlite3-napi (src/store/sqlite-driver.ts).
ARG NODE_VERSION=24
FROM node:${NODE_VERSION}-slim AS base
WORKDIR /app

# Production dependencies. No install scripts: better-sqlite3 13 and sodium-native load the
# binaries inside their packages; better-sqlite3 12 (Node 20's) is not used on this Node and
# stays unbuilt, so no compiler is needed.
FROM base AS deps
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# TypeScript → dist/ (src and migrations).
FROM deps AS build
RUN npm ci --no-audit --no-fund --ignore-scripts
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
