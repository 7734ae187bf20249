# BERTH_SANITIZE: every target of the project, generated code included, is compiled and linked
# with AddressSanitizer (LeakSanitizer with it) and UndefinedBehaviorSanitizer. Any finding ends
# the process with an error (-fno-sanitize-recover=all), so a test that meets one fails.
# GCC's -Wmaybe-uninitialized is not reliable on instrumented code (GCC 12 flags libstdc++'s own
# <regex> there), so it is off in this build; the normal build still checks it.
if(BERTH_SANITIZE)
  set(BERTH_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all)
  add_compile_options(${BERTH_SANITIZE_FLAGS} -fno-omit-frame-pointer)
  add_link_options(${BERTH_SANITIZE_FLAGS})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

# BERTH_FUZZ: every target is compiled for libFuzzer (coverage instrumentation, no main of
# libFuzzer's: only tests/fuzz's targets link -fsanitize=fuzzer) and with AddressSanitizer and
# UndefinedBehaviorSanitizer. Clang only; the gcc builds never see these flags.
if(BERTH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BERTH_FUZZ needs clang (CXX=clang++-14); this is ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(BERTH_SANITIZE)
    message(FATAL_ERROR "BERTH_FUZZ already builds with the sanitizers: leave BERTH_SANITIZE off")
  endif()
  set(BERTH_FUZZ_FLAGS -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all)
  add_compile_options(${BERTH_FUZZ_FLAGS} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# berth_unit_tests: every unit test executable (berth_add_unit_test) and what it needs to run,
# so that a build directory can build just those (scripts/test.sh's sanitizer build).
if(BERTH_BUILD_TESTS AND NOT TARGET berth_unit_tests)
  add_custom_target(berth_unit_tests)
endif()

# berth_add_common_options(target [NO_WARNINGS])
#
# Applies the project's warning set, and -Werror when BERTH_WERROR is on (the default).
# NO_WARNINGS is for generated code (protoc's output), which gets neither.
function(berth_add_common_options target)
  cmake_parse_arguments(ARG "NO_WARNINGS" "" "" ${ARGN})
  if(ARG_NO_WARNINGS)
    target_compile_options(${target} PRIVATE -w)
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                             -Wnon-virtual-dtor -Wno-unused-parameter)
    if(BERTH_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# berth_add_unit_test(name SOURCES ... LIBS ...)
#
# One executable per test file, discovered into CTest with the `unit` label and built by the
# berth_unit_tests target. Binaries a test starts are its add_dependencies, which
# berth_unit_tests builds too.
function(berth_add_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  berth_add_common_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} berth::testing GTest::gmock_main)
  gtest_discover_tests(${name} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
  add_dependencies(berth_unit_tests ${name})
endfunction()
