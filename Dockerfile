# Builds Sluice's executables (sluice, click-generator, click-count-job) on Debian bookworm with
# librdkafka 2.8.0 built by scripts/setup.sh and linked statically, then copies them into a slim image.
FROM swift:6.1-bookworm AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh \
 && . scripts/env.sh \
 && swift build -c release --static-swift-stdlib \
 && mkdir -p /out \
 && cp .build/release/sluice .build/release/click-generator .build/release/click-count-job /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libsasl2-2 zlib1g liblz4-1 libzstd1 libsnappy1v5 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
CMD ["sluice", "--help"]
