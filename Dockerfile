# httpcap container image, in two stages: a Debian 12 build stage with the
# Rust toolchain, and a slim runtime stage with only what the binary links
# against plus a netcat (to check broker reachability from inside the
# container: `docker compose exec httpcap nc -zv BROKER 9092`).
#
# The build stage runs the same steps as the README's "Build" section.
# Without a registry or a Docker engine, tools/image/build.sh builds the
# runtime stage with buildah around a binary built outside it, on a local
# Debian base (tools/image/base.sh), and can save it for `docker load`.
#
# Package versions are not pinned (hadolint DL3008): Debian 12 replaces a
# pinned version when a security update lands, and the build would break.

FROM rust:1-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev libpcap-dev clang-14 libelf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p httpcap

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g libpcap0.8 libelf1 netcat-openbsd \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/httpcap /usr/local/bin/httpcap
ENTRYPOINT ["/usr/local/bin/httpcap"]
