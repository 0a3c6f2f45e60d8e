# syntax=docker/dockerfile:1
# One image for every Parley target: `docker run IMAGE --target=gateway` (default --target=all, the
# all-in-one mode on embedded defaults, data in /data).
#
# The image runs compiled JavaScript on plain `node`, not tsx: tsx and TypeScript are development
# dependencies (the runtime keeps production dependencies only), and the process starts without
# transpiling every file on each start. The compile only emits (noCheck): `npm test` runs the type check.
# The layout matches the source tree (services/**/*.js beside migrations/, proto/ at the top), so
# paths the code resolves from import.meta.url work unchanged.
ARG NODE_IMAGE=node:24-slim

# --- build: every dependency, compile services/ to JavaScript --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts are skipped: the `node` devDependency would download a second Node binary, and the
# compiler needs none of them.
RUN npm ci --ignore-scripts --no-audit --no-fund
# What .dockerignore lets through: tsconfig*.json, services/, proto/ and (when present) web/.
COPY . .
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && find services -name '*.ts' -delete \
 && mkdir -p web

# --- production dependencies only ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
WORKDIR /app
# V8's heap follows the container's memory limit: 75% of it, where Node's default is 50% (a 512 MiB
# gateway pod would have a 259 MiB heap: too little for 20,000 idle streams, docs/benchmarks.md).
# kafkajs (2.2.4) arms a negative timer when its request queue is idle, and Node prints a
# TimeoutNegativeWarning for it, a non-JSON line in every Kafka-using pod's log: silenced.
# --max-semi-space-size=8: short scavenges whatever the memory (services/kit/runtime-flags.ts).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size-percentage=75 --disable-warning=TimeoutNegativeWarning --max-semi-space-size=8" \
    PARLEY_DATA_DIR=/data \
    PORT=8080 \
    PARLEY_ADMIN_PORT=9464
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/services ./services
COPY --from=build /app/proto ./proto
COPY --from=build /app/web ./web
# A numeric non-root user (runAsNonRoot can verify it); /data is the only place Parley writes.
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080 9464
ENTRYPOINT ["node", "services/main.js"]
CMD ["--target=all"]
