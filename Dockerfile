# One small image for both programs: `bollard controller` and `bollard speaker`.
# Build: docker build -t bollard/bollard:0.1.0 .
# Stage 1 compiles the TypeScript and the two N-API addons (AF_PACKET, TCP options) from source.
FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY net ./net
RUN npx node-gyp rebuild -C net/addon && npx node-gyp rebuild -C net/tcp
COPY bin ./bin
COPY cli ./cli
COPY proto ./proto
COPY k8s ./k8s
COPY config ./config
COPY controller ./controller
COPY speaker ./speaker
COPY lab ./lab
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . && npm prune --omit=dev

# Stage 2: the runtime, with only production dependencies, the compiled code and the addons.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/tsconfig.json ./tsconfig.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/cli ./dist/cli
COPY --from=build /src/dist/proto ./dist/proto
COPY --from=build /src/dist/net ./dist/net
COPY --from=build /src/dist/k8s ./dist/k8s
COPY --from=build /src/dist/config ./dist/config
COPY --from=build /src/dist/controller ./dist/controller
COPY --from=build /src/dist/speaker ./dist/speaker
COPY --from=build /src/dist/lab ./dist/lab
COPY --from=build /src/net/addon/build/Release/*.node ./net/addon/build/Release/
COPY --from=build /src/net/tcp/build/Release/*.node ./net/tcp/build/Release/
# The controller runs as 65532 (set in the Deployment); the speaker as 0 with only NET_RAW and
# NET_BIND_SERVICE (set in the DaemonSet). Nothing is written to the filesystem at run time.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/bollard.mjs"]
