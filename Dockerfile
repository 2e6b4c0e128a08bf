# wick serve in a container: built on Debian 12 with the project's own set-up script (the same
# commands as README.md), shipped on a slim Debian 12 with only the runtime libraries.
#   docker build -t wick .
#   docker run -p 8080:8080 -v /path/to/models:/models wick -m /models/qwen2.5-0.5b-instruct-q4_k_m.gguf
FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src/wick
COPY . .
RUN scripts/setup.sh && strip build/release/bin/wick

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcre2-8-0 libutf8proc2 libcpp-httplib0.11 libstdc++6 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 wick
COPY --from=build /src/wick/build/release/bin/wick /usr/local/bin/wick
USER wick
EXPOSE 8080
# Readiness: GET /health is 503 while the model loads, 200 once it serves.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["wick", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["-m", "/models/model.gguf"]
