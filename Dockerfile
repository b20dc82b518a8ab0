# Builds the gateway; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/pubsub-gateway /usr/local/bin/pubsub-gateway
COPY conf /etc/pubsub-gateway
EXPOSE 9080
ENTRYPOINT ["pubsub-gateway", "--config", "/etc/pubsub-gateway/docker.yaml"]
