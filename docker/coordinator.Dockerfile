# The coordinator image: `ftd` (gRPC on 7070; HTTP /healthz, /readyz, /metrics on 9090; RocksDB state in the
# /var/lib/ftd volume) and `ftctl` as the admin tool (`docker exec CONTAINER ftctl workers`).
# Build from the repository root:  docker build -f docker/coordinator.Dockerfile -t ftd-coordinator .
#
# Stage 1 (Debian 12 with the build packages) runs docker/build.sh, the script tests/docker runs; stage 2 (Debian 12
# slim) holds the stripped binaries and only the packages docker/runtime-packages.sh derives from their `ldd`.

FROM debian:12.11 AS build
ENV DEBIAN_FRONTEND=noninteractive
COPY docker/build-packages.sh /src/docker/build-packages.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(bash /src/docker/build-packages.sh coordinator) \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN bash /src/docker/build.sh --variant coordinator --prefix /opt/ftd --build-dir /build

FROM debian:12.11-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY docker/runtime-packages.sh /tmp/runtime-packages.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(bash /tmp/runtime-packages.sh coordinator) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.sh
# A fixed non-root uid, so that volumes can be chowned ahead and Kubernetes' runAsNonRoot can check USER.
RUN groupadd --gid 10001 ftd \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/ftd --no-create-home --shell /usr/sbin/nologin ftd \
 && mkdir -p /var/lib/ftd && chown ftd:ftd /var/lib/ftd
COPY --from=build /opt/ftd/bin/ /usr/local/bin/
# bash's /dev/tcp instead of curl: the binaries have no health-check mode, and slim has no HTTP client.
COPY docker/healthcheck.sh /usr/local/bin/ftd-healthcheck
USER 10001:10001
WORKDIR /var/lib/ftd
VOLUME ["/var/lib/ftd"]
EXPOSE 7070 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "/usr/local/bin/ftd-healthcheck", "9090", "/healthz"]
# Arguments after the image name add flags: --token-file, --tls-cert/--tls-key, --allowed-root, --lease-seconds.
ENTRYPOINT ["ftd", "--data-dir", "/var/lib/ftd", "--listen", "0.0.0.0:7070", "--http-listen", "0.0.0.0:9090"]
