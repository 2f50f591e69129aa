# One small helper per kind of target (STYLE.md point 13).
#
#   ls_cc_library(NAME n SRCS ... [HDRS ...] [DEPS ...] [PUBLIC_DEPS ...])
#   ls_cc_binary(NAME n SRCS ... [DEPS ...] [OUTPUT_NAME o])
#   ls_cc_test(NAME n SRCS ... [DEPS ...] [LABELS ...] [TIMEOUT s] [NO_MAIN])
#   ls_cc_benchmark(NAME n SRCS ... [DEPS ...])
#   ls_cc_fuzzer(NAME n SRCS ... [DEPS ...])
#
# Every target gets the project's warning flags and sanitizer flags. Include
# paths are rooted at the repository, so headers are included as
# "common/data/dataset.h".

set(LS_WARNING_FLAGS -Wall -Wextra -Wno-unused-parameter)
if(LS_WERROR)
  list(APPEND LS_WARNING_FLAGS -Werror)
endif()

set(LS_SANITIZER_FLAGS "")
if(LS_SANITIZE)
  set(LS_SANITIZER_FLAGS -fsanitize=${LS_SANITIZE} -fno-omit-frame-pointer
      -fno-sanitize-recover=all)
endif()
if(LS_BUILD_FUZZERS)
  # Coverage instrumentation for the libraries the fuzzers link.
  list(APPEND LS_SANITIZER_FLAGS -fsanitize=fuzzer-no-link)
endif()

function(_ls_common_settings target)
  target_compile_options(${target} PRIVATE ${LS_WARNING_FLAGS} ${LS_SANITIZER_FLAGS})
  if(LS_SANITIZER_FLAGS)
    target_link_options(${target} PRIVATE ${LS_SANITIZER_FLAGS})
  endif()
endfunction()

function(ls_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_DEPS" ${ARGN})
  if(A_SRCS)
    add_library(${A_NAME} STATIC ${A_SRCS} ${A_HDRS})
    target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} ${A_DEPS})
    _ls_common_settings(${A_NAME})
    if(LS_SANITIZER_FLAGS)
      target_link_options(${A_NAME} INTERFACE ${LS_SANITIZER_FLAGS})
    endif()
  else()
    add_library(${A_NAME} INTERFACE)
    target_include_directories(${A_NAME} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${A_NAME} INTERFACE ${A_PUBLIC_DEPS} ${A_DEPS})
  endif()
endfunction()

function(ls_cc_binary)
  cmake_parse_arguments(A "" "NAME;OUTPUT_NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  _ls_common_settings(${A_NAME})
  if(A_OUTPUT_NAME)
    set_target_properties(${A_NAME} PROPERTIES OUTPUT_NAME ${A_OUTPUT_NAME})
  endif()
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# Tests are discovered per gtest case. LABELS (one label) selects the
# layer, tests/README.md: unit (the default), service, integration, e2e,
# plus tsan and deploy.
#
# TIMEOUT (seconds, per gtest case) defaults by layer: unit 120 (a hung unit
# test costs two minutes, not ten; also 'tsan', unit tests that `make tsan`
# runs), service 300, the others 600; under
# LS_SANITIZE these defaults are ×3 (sanitized code runs several times
# slower). An explicit TIMEOUT is used as given (its author sized it for the
# slowest build); for a unit test it may not exceed the unit default.
# (No per-test environment: in PRE_TEST
# discovery CMake 3.25 flattens an ENVIRONMENT list to its first entry, so
# tests find the source/build trees through compiled-in paths, see
# common/testing/test_env.h, and ThreadSanitizer suppressions are compiled
# into ls_testing.)
function(ls_cc_test)
  if(NOT LS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "NO_MAIN" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} ls_testing GTest::gtest GTest::gmock)
  if(NOT A_NO_MAIN)
    target_link_libraries(${A_NAME} PRIVATE GTest::gmock_main)
  endif()
  _ls_common_settings(${A_NAME})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  set(_scale 1)
  if(LS_SANITIZE)
    set(_scale 3)
  endif()
  if(A_LABELS STREQUAL "unit" OR A_LABELS STREQUAL "tsan")
    math(EXPR _default "120 * ${_scale}")
  elseif(A_LABELS STREQUAL "service")
    math(EXPR _default "300 * ${_scale}")
  else()
    math(EXPR _default "600 * ${_scale}")
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT ${_default})
  elseif((A_LABELS STREQUAL "unit" OR A_LABELS STREQUAL "tsan") AND A_TIMEOUT GREATER _default)
    message(FATAL_ERROR "${A_NAME}: unit tests time out at ${_default} s at most; "
                        "a longer test belongs to another layer (tests/README.md)")
  endif()
  gtest_discover_tests(${A_NAME}
    DISCOVERY_TIMEOUT 60
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()

function(ls_cc_benchmark)
  if(NOT LS_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} benchmark::benchmark)
  _ls_common_settings(${A_NAME})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
endfunction()

include(GoogleTest)

# libFuzzer targets (LS_BUILD_FUZZERS=ON with CMAKE_CXX_COMPILER=clang++).
# Built with ASan + UBSan + the fuzzer runtime; run by hand, e.g.
#   build-fuzz/fuzz/cifar_fuzzer -max_total_time=60 corpus/
function(ls_cc_fuzzer)
  if(NOT LS_BUILD_FUZZERS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "LS_BUILD_FUZZERS needs clang: -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  target_compile_options(${A_NAME} PRIVATE ${LS_WARNING_FLAGS}
    -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
endfunction()
