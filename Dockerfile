# Builds Sluice's executables (sluice, click-generator, click-count-job, pass-through-job) on Debian bookworm with
# librdkafka 2.8.0 built by scripts/setup.sh and linked statically, then copies them into a slim image.
FROM swift:6.1-bookworm AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh \
 && . scripts/env.sh \
 && swift build -c release --static-swift-stdlib \
 && mkdir -p /out \
 && cp .build/release/sluice .build/release/click-generator .build/release/click-count-job .build/release/pass-through-job /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libsasl2-2 zlib1g liblz4-1 libzstd1 libsnappy1v5 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# Least privilege: the job and the CLI run as a dedicated user, never root. The checkpoint volume's
# mount point belongs to it (a named volume takes this ownership when first mounted), so the job
# can write checkpoints and savepoints there and nowhere else that matters.
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sluice \
 && mkdir -p /checkpoints \
 && chown sluice:sluice /checkpoints \
 && chmod 0750 /checkpoints
VOLUME ["/checkpoints"]
USER sluice:sluice
CMD ["sluice", "--help"]
