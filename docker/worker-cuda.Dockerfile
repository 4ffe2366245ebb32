# The GPU worker image: `ftd-worker serve --gpu 0` built with CUDA (FTD_CUDA=ON, sm_90 as the top-level
# CMakeLists.txt sets; NCCL found at configure time); HTTP /healthz, /readyz, /metrics on 9091; the ranks' files
# in the /var/lib/ftd-worker volume. Run one container per GPU with the NVIDIA Container Toolkit:
#   docker run --gpus device=0 ftd-worker-cuda --coordinator ftd:7070 --gpu 0
# Build from the repository root:  docker build -f docker/worker-cuda.Dockerfile -t ftd-worker-cuda .
#
# Why Debian 12 and not nvidia/cuda: every library but CUDA comes from Debian 12's packages (gRPC 1.51, protobuf
# 3.21, absl 20220623, RocksDB 7.8, Gloo), and NVIDIA publishes its CUDA images on Ubuntu and RHEL-like bases
# only, whose versions of those libraries differ (another ABI). Debian's own nvidia-cuda-toolkit is CUDA 11.8 in
# non-free, older than the CUDA 13 this project builds and tests with. So both stages are Debian 12 and take
# CUDA 13.0 from NVIDIA's apt repository for Debian 12 (signed; its key comes in the cuda-keyring package): the
# compiler, headers and NCCL in the build stage, only the runtime library (cuda-cudart-13-0) in the final one.
# The driver (libcuda.so.1) is not in the image: the NVIDIA Container Toolkit mounts the host's at `docker run
# --gpus`, for the capabilities NVIDIA_DRIVER_CAPABILITIES names (compute for CUDA, utility for nvidia-smi).

ARG CUDA_REPO=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64

FROM debian:12.11 AS build
ARG CUDA_REPO
ENV DEBIAN_FRONTEND=noninteractive
COPY docker/build-packages.sh /src/docker/build-packages.sh
# The keyring package registers NVIDIA's repository and its signing key; it is kept for the final stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && curl -fsSL -o /opt/cuda-keyring.deb "$CUDA_REPO/cuda-keyring_1.1-1_all.deb" \
 && dpkg -i /opt/cuda-keyring.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends $(bash /src/docker/build-packages.sh worker-cuda) \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/local/cuda-13.0/bin:$PATH
COPY . /src
RUN bash /src/docker/build.sh --variant worker-cuda --prefix /opt/ftd --build-dir /build

FROM debian:12.11-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /opt/cuda-keyring.deb /tmp/cuda-keyring.deb
COPY docker/runtime-packages.sh /tmp/runtime-packages.sh
# ca-certificates first: apt reaches NVIDIA's repository over https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && dpkg -i /tmp/cuda-keyring.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends $(bash /tmp/runtime-packages.sh worker-cuda) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.sh /tmp/cuda-keyring.deb
# A fixed non-root uid, so that volumes can be chowned ahead and Kubernetes' runAsNonRoot can check USER.
RUN groupadd --gid 10001 ftd \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/ftd-worker --no-create-home --shell /usr/sbin/nologin ftd \
 && mkdir -p /var/lib/ftd-worker && chown ftd:ftd /var/lib/ftd-worker
COPY --from=build /opt/ftd/bin/ /usr/local/bin/
# bash's /dev/tcp instead of curl: the binaries have no health-check mode, and slim has no HTTP client.
COPY docker/healthcheck.sh /usr/local/bin/ftd-healthcheck
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/ftd-worker
VOLUME ["/var/lib/ftd-worker"]
EXPOSE 9091
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "/usr/local/bin/ftd-healthcheck", "9091", "/healthz"]
# The work dir and the HTTP address are the image's (the volume and the health check use them); the arguments
# (CMD) name the coordinator and the GPU and add flags: --label, --advertise-address, FTD_TOKEN in the environment.
ENTRYPOINT ["ftd-worker", "serve", "--work-dir", "/var/lib/ftd-worker", "--http-listen", "0.0.0.0:9091"]
CMD ["--coordinator", "ftd:7070", "--gpu", "0"]
