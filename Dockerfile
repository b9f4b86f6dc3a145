# syntax=docker/dockerfile:1
# pricepool: build with the Rust toolchain, run on a small Debian image.
#   docker build -t pricepool .
#   docker run -p 8080:8080 -v pricepool-data:/data pricepool

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crates and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin pricepool \
    && cp target/release/pricepool /usr/local/bin/pricepool \
    && strip /usr/local/bin/pricepool

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pricepool \
    && mkdir -p /data \
    && chown pricepool:pricepool /data
COPY --from=build /usr/local/bin/pricepool /usr/local/bin/pricepool
USER pricepool
VOLUME ["/data"]
ENV PRICEPOOL_LISTEN=0.0.0.0:8080 PRICEPOOL_DATA_DIR=/data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["pricepool", "healthcheck"]
# Exec form: pricepool is PID 1 and receives SIGTERM on `docker stop`,
# flushes every changed home and exits 0.
ENTRYPOINT ["pricepool"]
