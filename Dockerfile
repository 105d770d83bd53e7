# wangge: the gRPC service in a container.
#   docker build -t wangge .
#   docker run -p 50051:50051 -p 9464:9464 -v wangge-data:/var/lib/wangge wangge
# Build stage: the release binary, with the git revision when the build
# context has no .git (pass --build-arg WANGGE_REVISION=$(git rev-parse --short=12 HEAD)).
FROM rust:1.88-bookworm AS build
ARG WANGGE_REVISION=unknown
ENV WANGGE_REVISION=${WANGGE_REVISION}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wangge

# Run stage: a slim Debian, a non-root user, the data on a volume.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 wangge \
    && useradd --system --uid 10001 --gid wangge --home-dir /var/lib/wangge --create-home wangge
COPY --from=build /src/target/release/wangge /usr/local/bin/wangge
COPY --from=build /src/policies /etc/wangge/policies
USER 10001:10001
WORKDIR /var/lib/wangge
VOLUME ["/var/lib/wangge"]
# gRPC and Prometheus metrics.
EXPOSE 50051 9464
ENV WANGGE_LISTEN=0.0.0.0:50051 \
    WANGGE_METRICS_LISTEN=0.0.0.0:9464 \
    WANGGE_DATA=/var/lib/wangge/data \
    WANGGE_POLICIES=/etc/wangge/policies
# grpc.health.v1 through the binary itself (no grpc_health_probe download).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["wangge", "health", "--server", "127.0.0.1:50051"]
# SIGTERM drains calls and flushes the store.
STOPSIGNAL SIGTERM
ENTRYPOINT ["wangge"]
CMD ["serve"]
