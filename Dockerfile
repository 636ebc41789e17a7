# syntax=docker/dockerfile:1
# mimc-bridge: a static binary on distroless, running as a non-root user.
#   docker build -t mimc-bridge .
#   docker run --rm -e MIMC_BRIDGE_KAFKA_BROKERS=... mimc-bridge        # the bridge
#   docker run --rm mimc-bridge config                                   # the effective settings

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/mimc-bridge/mimc-bridge/cli.Version=${VERSION}" \
      -o /out/mimc-bridge .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mimc-bridge /mimc-bridge
# distroless's nonroot user (65532); no shell, no package manager.
USER nonroot:nonroot
# /metrics, /healthz, /readyz (HTTP_ADDR).
EXPOSE 8080
ENTRYPOINT ["/mimc-bridge"]
CMD ["run"]
