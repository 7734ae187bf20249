# Build options of the project, in one place.
option(BERTH_BUILD_TESTS "Build unit and integration tests" ON)
option(BERTH_BUILD_BENCHMARKS "Build benchmarks and load generators" ON)
option(BERTH_WERROR "Treat compiler warnings in Berth's own code as errors" ON)
option(BERTH_SANITIZE
       "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer (tests: scripts/test.sh)"
       OFF)
option(BERTH_FUZZ
       "Build tests/fuzz/'s libFuzzer targets, everything with ASan and UBSan (clang only; scripts/fuzz.sh)"
       OFF)
