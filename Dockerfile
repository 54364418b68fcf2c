# One image holds both binaries: /manager (the operator) and /gateway.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/manager . && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gateway ./gateway

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/manager /out/gateway /
USER 65532:65532
ENTRYPOINT ["/manager"]
