# Builds every binary of the hub into one image; docker-compose.yml runs each service from it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/gateway target/release/adapter target/release/agency target/release/hubctl /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 hub
COPY --from=build /out/ /usr/local/bin/
COPY services/agencies/fixtures/demo-*.json /usr/share/enforcement-hub/
USER hub
