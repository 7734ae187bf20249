# Build options of the project, in one place.
option(BERTH_BUILD_TESTS "Build unit and integration tests" ON)
option(BERTH_BUILD_BENCHMARKS "Build benchmarks and load generators" ON)
option(BERTH_ENABLE_WERROR "Treat compiler warnings as errors" OFF)
set(BERTH_SANITIZER "" CACHE STRING "Sanitizer to build with: empty, address or thread")
