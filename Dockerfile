# httpcap container image, in two stages: a Debian 12 build stage with the
# Rust toolchain, and a slim runtime stage with only what the binary links
# against plus a netcat (to check broker reachability from inside the
# container: `docker compose exec httpcap nc -zv BROKER 9092`).
#
# The build stage runs the same steps as the README's "Build" section.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev libpcap-dev clang-14 libelf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p httpcap

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g libpcap0.8 libelf1 netcat-openbsd \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/httpcap /usr/local/bin/httpcap
ENTRYPOINT ["/usr/local/bin/httpcap"]
