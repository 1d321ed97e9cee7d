# bookmcp in a container: builds with the same installer the README uses, runs as a non-root
# user on the embedded profile with the sample book, listening on port 8765.
#   docker build -t bookmcp .
#   docker run -p 8765:8765 bookmcp --listen 0.0.0.0:8765 --auth-keys /keys --data-dir /data
# The same image has the readers' chat backend and its widget:
#   docker run -p 8788:8788 --entrypoint bookmcp-chat bookmcp --listen 0.0.0.0:8788 \
#     --mcp-url ws://bookmcp:8765/mcp --mcp-jwt-secret-file /secrets/mcp --data-dir /data
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh
COPY . .
RUN BUILD_TYPE=Release TARGETS="bookmcp bookmcp-chat" bash scripts/build.sh -DBOOKMCP_BUILD_TESTS=OFF -DBOOKMCP_BUILD_BENCH=OFF
RUN cd examples/chat/widget && npm ci --no-audit --no-fund && npm run build

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libspdlog1.10 libpqxx-6.4 libsqlite3-0 libstemmer0d libmd4c0 libyaml-cpp0.7 libutf8proc2 libssl3 \
      libdate-tz3 tzdata libjemalloc2 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --create-home bookmcp
COPY --from=build /src/build/bookmcp /usr/local/bin/bookmcp
COPY --from=build /src/build/examples/chat/bookmcp-chat /usr/local/bin/bookmcp-chat
COPY --from=build /src/examples/chat/widget/dist /usr/share/bookmcp/widget
ENV CHAT_WIDGET_DIR=/usr/share/bookmcp/widget
COPY --from=build /src/examples/book /usr/share/bookmcp/book
USER bookmcp
VOLUME /data
EXPOSE 8765
ENTRYPOINT ["/usr/local/bin/bookmcp"]
CMD ["--listen", "0.0.0.0:8765", "--insecure-no-auth", "--data-dir", "/data", "--docs", "/usr/share/bookmcp/book/docs"]
