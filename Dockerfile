# switchyard container image: a Debian 12 build of the router binary on a
# debian:12-slim runtime with only the shared libraries it links.
#
#   docker build -t switchyard:0.1.0 .
#
# The Helm chart (helm/switchyard) runs it as user 65532 with a read-only
# root filesystem; switchyard writes no files. Not built in this repository's
# CI (no container engine there): see README.md.

# ---------------------------------------------------------------- build
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc-dev protobuf-compiler libprotobuf-dev protobuf-c-compiler libprotobuf-c-dev \
      libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev libwebsockets-dev \
      check libsubunit-dev libxxhash-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build --target switchyard \
 && strip /build/cmd/switchyard/switchyard \
 && /build/cmd/switchyard/switchyard --version

# -------------------------------------------------------------- runtime
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc29 libprotobuf-c1 libcurl4 libcjson1 libyaml-0-2 libssl3 libwebsockets17 \
      libxxhash0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/cmd/switchyard/switchyard /usr/local/bin/switchyard
# ext_proc gRPC, gRPC health, admin HTTP (/metrics, /healthz, /readyz, /debug).
EXPOSE 9002 9003 9090
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/switchyard"]
