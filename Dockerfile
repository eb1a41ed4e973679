# One small image for both programs: `bollard controller` and `bollard speaker`.
# Build with Docker: docker build -t bollard/bollard:0.1.0 .
# Build without Docker or Docker Hub: npm run image (the same file, built by buildah on bases made from
# Debian's archive and the official Node.js binary; see docs/install.md).
#
# The two bases are arguments. Stage 1's needs Node.js 24 with npm, its headers under /usr/local/include/node
# (node-gyp must not download them), python3, make and g++; the runtime's needs Node.js 24, and iptables
# for the speaker's flow handover (`npm run image`'s base has it; node:24-bookworm-slim does not, and a
# speaker without it logs so and runs without flow handover).
ARG BUILD_BASE=node:24-bookworm
ARG BASE=node:24-bookworm-slim

# Stage 1 compiles the TypeScript and the two N-API addons (AF_PACKET, TCP options) from source.
FROM ${BUILD_BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY net ./net
# node-gyp (npm's own) builds against the headers in the base rather than downloading them.
RUN npm_config_nodedir=/usr/local npm run build:addon
COPY tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY proto ./proto
COPY k8s ./k8s
COPY config ./config
COPY controller ./controller
COPY speaker ./speaker
# Production dependencies only, without their type declarations and source maps (a third of their size).
RUN npx tsc -p . && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.d.ts.map' \
      -o -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' \) -delete

# Stage 2: the runtime, with only production dependencies, the compiled code and the addons.
FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/net/addon/build/Release/bollard_packet.node ./net/addon/build/Release/
COPY --from=build /src/net/tcp/build/Release/bollard_tcp.node ./net/tcp/build/Release/
# The controller runs as 65532 (set in the Deployment); the speaker as 0 with only NET_RAW,
# NET_BIND_SERVICE and NET_ADMIN (set in the DaemonSet). Nothing is written to the filesystem at run time.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/bollard.mjs"]
