# seqhook: `docker build -t seqhook .`, then `docker run -p 8080:8080 -v seqhook:/data seqhook`
# (embedded SQLite in /data) or with `-e DATABASE_URL=postgres://…`.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
# Dependencies first, built against placeholder sources: this layer is reused until
# Cargo.toml or Cargo.lock changes, so editing the code rebuilds only seqhook itself.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY migrations migrations
COPY console console
COPY src src
# COPY keeps the context's modification times, which may be older than the placeholders'
# build: touch, so cargo sees the real sources as changed.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

FROM debian:bookworm-slim
# ca-certificates for https webhook receivers; curl for the health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin seqhook \
    && mkdir -p /data \
    && chown seqhook:seqhook /data
COPY --from=builder /build/target/release/seqhook /usr/local/bin/seqhook
USER seqhook
# The working directory is the volume, so the embedded default database, ./seqhook.db,
# lands in /data/seqhook.db and outlives the container.
WORKDIR /data
VOLUME ["/data"]
ENV SEQHOOK_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["seqhook"]
CMD ["serve"]
