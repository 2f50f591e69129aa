# Finds every third-party dependency once, from the Debian 12 packages
# installed by deploy/install-deps.sh. See ../shared/TOOLCHAIN.md.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
# The /metrics HTTP server (common/rpc/metrics_server.cc).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# The metrics registry's storage and text format (common/rpc/metrics.cc):
# prometheus-cpp-core only (the package's config also looks for civetweb and
# curl, for its pull/push libraries, which we do not link).
find_package(prometheus-cpp CONFIG REQUIRED)
# Logging (common/base/logging.h): the glog LibTorch itself links.
find_package(glog CONFIG REQUIRED)
# Linear algebra for the PCA (common/stats), header-only. (nlohmann::json was
# measured against the CLI's JsonWriter and not taken: clients/cli/json.h.)
find_package(Eigen3 CONFIG REQUIRED)

# hnswlib 0.6.2 has no CMake package and defines non-inline functions in its
# headers: include it from exactly one .cc per binary.
find_path(HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h REQUIRED)
add_library(ls_hnswlib INTERFACE)
target_include_directories(ls_hnswlib SYSTEM INTERFACE ${HNSWLIB_INCLUDE_DIR})

if(LS_WITH_TORCH)
  find_package(Torch REQUIRED)
endif()

if(LS_BUILD_TESTS OR LS_BUILD_BENCHMARKS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(LS_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG REQUIRED)
endif()
