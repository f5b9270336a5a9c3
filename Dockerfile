# rollcall peer image. One peer per container:
#   docker run --name peer-1 --hostname peer-1 --network NET \
#     -v ./hosts:/etc/rollcall/hosts:ro rollcall
# The base is the official Bun image; tests build one locally from the Bun
# binary npm installed and pass it as BUN_IMAGE (test/containers/setup.sh).
# Every RUN uses the exec form: that base has no shell.
ARG BUN_IMAGE=oven/bun:1.4.5-slim

FROM ${BUN_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy, pass its CA certificate (PEM text) so that
# bun can reach the registry: --build-arg EXTRA_CA_PEM="$(cat ca.pem)". It
# stays in this build stage; the final image does not contain it.
ARG EXTRA_CA_PEM=""
RUN ["bun", "-e", "require('fs').writeFileSync('/tmp/extra-ca.pem', process.env.EXTRA_CA_PEM ?? '')"]
ENV NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem
# Production dependencies only (@bufbuild/protobuf); Bun reads package-lock.json.
RUN ["bun", "install", "--production", "--ignore-scripts", "--no-progress"]
# The peer as one minified file with its bytecode (npm run build): it starts
# with half the CPU of the TypeScript sources, and the image needs neither
# them nor node_modules.
COPY src ./src
COPY scripts/build.ts ./scripts/build.ts
COPY scripts/lib/bundle.ts ./scripts/lib/bundle.ts
RUN ["bun", "scripts/build.ts"]

FROM ${BUN_IMAGE}
WORKDIR /app
# peer.js and its precompiled bytecode, peer.js.jsc (read when the Bun version matches).
COPY --from=deps /app/dist/ ./
# The hosts file is mounted here (or baked in by a derived image).
COPY examples/hosts-local.txt /etc/rollcall/hosts
ENV ROLLCALL_HOSTS=/etc/rollcall/hosts
USER 1000:1000
EXPOSE 7700/udp
# Arguments after the image name go to the peer: --log-level info, --chaos ...
ENTRYPOINT ["bun", "/app/peer.js"]
