# berth_add_common_options(target [NO_WARNINGS])
#
# Applies the project's warning set (and -Werror when BERTH_ENABLE_WERROR is on) and the
# sanitizer selected by BERTH_SANITIZER. NO_WARNINGS is for generated code.
function(berth_add_common_options target)
  cmake_parse_arguments(ARG "NO_WARNINGS" "" "" ${ARGN})
  if(NOT ARG_NO_WARNINGS)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                             -Wnon-virtual-dtor -Wno-unused-parameter)
    if(BERTH_ENABLE_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
  if(BERTH_SANITIZER)
    target_compile_options(${target} PRIVATE -fsanitize=${BERTH_SANITIZER} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${BERTH_SANITIZER})
  endif()
endfunction()

# berth_add_unit_test(name SOURCES ... LIBS ...)
#
# One executable per test file, discovered into CTest with the `unit` label.
function(berth_add_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  berth_add_common_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} berth::testing GTest::gmock_main)
  gtest_discover_tests(${name} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
endfunction()
