# The CPU worker image: `ftd-worker serve` (CPU ranks over Gloo; HTTP /healthz, /readyz, /metrics on 9091; the
# ranks' files in the /var/lib/ftd-worker volume). It joins the coordinator named by --coordinator (default
# ftd:7070, the coordinator container's name on a user-defined network).
# Build from the repository root:  docker build -f docker/worker-cpu.Dockerfile -t ftd-worker-cpu .
#
# Stage 1 (Debian 12 with the build packages) runs docker/build.sh, the script tests/docker runs; stage 2 (Debian 12
# slim) holds the stripped binary and only the packages docker/runtime-packages.sh derives from its `ldd`.

FROM debian:12.11 AS build
ENV DEBIAN_FRONTEND=noninteractive
COPY docker/build-packages.sh /src/docker/build-packages.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(bash /src/docker/build-packages.sh worker-cpu) \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN bash /src/docker/build.sh --variant worker-cpu --prefix /opt/ftd --build-dir /build

FROM debian:12.11-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY docker/runtime-packages.sh /tmp/runtime-packages.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(bash /tmp/runtime-packages.sh worker-cpu) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.sh
# A fixed non-root uid, so that volumes can be chowned ahead and Kubernetes' runAsNonRoot can check USER.
RUN groupadd --gid 10001 ftd \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/ftd-worker --no-create-home --shell /usr/sbin/nologin ftd \
 && mkdir -p /var/lib/ftd-worker && chown ftd:ftd /var/lib/ftd-worker
COPY --from=build /opt/ftd/bin/ /usr/local/bin/
# bash's /dev/tcp instead of curl: the binaries have no health-check mode, and slim has no HTTP client.
COPY docker/healthcheck.sh /usr/local/bin/ftd-healthcheck
USER 10001:10001
WORKDIR /var/lib/ftd-worker
VOLUME ["/var/lib/ftd-worker"]
EXPOSE 9091
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "/usr/local/bin/ftd-healthcheck", "9091", "/healthz"]
# The work dir and the HTTP address are the image's (the volume and the health check use them); the arguments
# (CMD) name the coordinator and add flags: --cpu-cores, --label, --advertise-address, FTD_TOKEN in the environment.
ENTRYPOINT ["ftd-worker", "serve", "--work-dir", "/var/lib/ftd-worker", "--http-listen", "0.0.0.0:9091"]
CMD ["--coordinator", "ftd:7070"]
