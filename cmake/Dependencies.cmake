# Every external dependency, resolved against Debian 12 packages.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CURL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
# Every daemon's Prometheus metrics: the registry and text format (core), the HTTP exposer
# of --metrics_listen (pull).
find_package(prometheus-cpp CONFIG REQUIRED)
# gateway: TLS, the HTTP server (Boost.Beast/Asio, header-only). It verifies JWTs itself
# (OpenSSL).
find_package(OpenSSL REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(ZLIB REQUIRED)
# fleet-agent: PostgreSQL's client library.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
if(BERTH_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
# libjwt mints the tokens that the gateway's tests and bench/gateway_load send; nothing that
# Berth ships uses it.
if(BERTH_BUILD_TESTS OR BERTH_BUILD_BENCHMARKS)
  pkg_check_modules(JWT REQUIRED IMPORTED_TARGET libjwt)
endif()

# Where Debian's grpc-proto package keeps the protos of gRPC's own services.
set(BERTH_GRPC_PROTO_DIR "/usr/share/grpc-proto" CACHE PATH
    "Directory holding grpc/health/v1/health.proto and grpc/reflection/v1alpha/reflection.proto")
