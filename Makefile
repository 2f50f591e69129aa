# The two commands a new user needs:
#   make demo   install what is missing, build, run the pipeline demo
#               (DEMO_ARGS=--serve: then keep the stack running with the
#               browser console at http://127.0.0.1:8080/)
#   make test   install what is missing, build, run every test (ctest)
# Others: make build | test-fast | bench | bench-cluster | bench-scale | asan | tsan | fuzz | format | clean
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEMO_OUT ?= demo-out
DEMO_ARGS ?=

.PHONY: all deps configure build test test-fast demo bench bench-cluster bench-scale asan tsan fuzz images stack-test cluster-stack-test format clean

all: build

deps:
	@bash deploy/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The unit tests only (label 'unit'): the quick loop while editing.
test-fast: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L unit -j $(JOBS)

# clang-format (.clang-format) over every tracked C++ file.
format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

demo: build
	bash deploy/demo.sh --build_dir=$(BUILD_DIR) --out=$(DEMO_OUT) $(DEMO_ARGS)

# Benchmarks are run by hand; results go into docs/benchmarks.md.
bench: build
	@for b in $(BUILD_DIR)/bench/*; do case "$$(basename $$b)" in cluster_bench|scale_bench) continue;; esac; \
	  echo "== $$b"; $$b; done

# The search cluster benchmark (tests/bench/cluster; docs/benchmarks.md,
# "Search cluster"): opt-in, not part of `make bench`. It starts and stops
# etcd, nodes, routers and standalone servers itself; the full size takes
# about 35 min to an hour on 2 cores and wants a quiet machine. Data under $TEST_TMPDIR
# (default /tmp); the report also goes to BENCH_CLUSTER_OUT. BENCH_CLUSTER_ARGS,
# e.g. a smoke run: --n=20000 --overhead_n=20000 --catchup_n=20000
# --duration_seconds=1 --recall_queries=100; one section: --sections=catchup.
BENCH_CLUSTER_ARGS ?=
BENCH_CLUSTER_OUT ?= $(BUILD_DIR)/cluster-bench.md
bench-cluster: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target cluster_bench latentsearch_search
	$(BUILD_DIR)/bench/cluster_bench --out=$(BENCH_CLUSTER_OUT) $(BENCH_CLUSTER_ARGS)

# The search node scale curve (tests/bench/scale; docs/benchmarks.md, "Search
# node scale curve"): opt-in, not part of `make bench`. It starts and stops its
# own latentsearch-search; 100k + 300k take about 15 min on 2 cores, 1M much
# longer (--sizes to choose). BENCH_SCALE_ARGS, e.g. --sizes=100000 or
# --search_binary=PATH (another build, for before/after in one run).
BENCH_SCALE_ARGS ?=
BENCH_SCALE_OUT ?= $(BUILD_DIR)/scale-bench.md
bench-scale: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target scale_bench latentsearch_search
	$(BUILD_DIR)/bench/scale_bench --out=$(BENCH_SCALE_OUT) $(BENCH_SCALE_ARGS)

# AddressSanitizer + UndefinedBehaviorSanitizer build that also runs the tests.
asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo \
	  CMAKE_FLAGS="-DLS_SANITIZE=address,undefined -DLS_BUILD_BENCHMARKS=OFF $(CMAKE_FLAGS)"

# ThreadSanitizer build (tests labelled 'tsan' only).
tsan:
	$(MAKE) build BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo \
	  CMAKE_FLAGS="-DLS_SANITIZE=thread -DLS_BUILD_BENCHMARKS=OFF -DLS_WITH_TORCH=OFF $(CMAKE_FLAGS)"
	ctest --test-dir build-tsan --output-on-failure -L tsan -j $(JOBS)

# libFuzzer targets (clang, ASan + UBSan) in build-fuzz/fuzz/ with seeds from
# tests/fuzz/make_corpus.sh; each runs FUZZ_SECONDS seconds or FUZZ_RUNS
# inputs, whichever comes first, on build-fuzz/corpus/<target> (kept between
# runs) plus build-fuzz/seeds/<target> and tests/fuzz/regressions/<target>
# (past crashes); new crashes land in build-fuzz/artifacts/.
# The checkpoint, encoder and trainer targets link LibTorch; FUZZ_TORCH=OFF
# leaves them out. Only the fuzz targets are built, not the services.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 10000000
FUZZ_TORCH ?= ON
fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DLS_BUILD_FUZZERS=ON \
	  -DLS_SANITIZE=address,undefined -DLS_BUILD_TESTS=OFF -DLS_BUILD_BENCHMARKS=OFF \
	  -DLS_WITH_TORCH=$(FUZZ_TORCH) >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target ls_fuzzers
	bash tests/fuzz/make_corpus.sh build-fuzz
	@mkdir -p build-fuzz/artifacts; for f in build-fuzz/fuzz/*; do n=$$(basename $$f); \
	  mkdir -p build-fuzz/corpus/$$n; echo "== $$n"; \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	  $$f -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
	    -artifact_prefix=build-fuzz/artifacts/$$n- \
	    build-fuzz/corpus/$$n build-fuzz/seeds/$$n \
	    $$(test -d tests/fuzz/regressions/$$n && echo tests/fuzz/regressions/$$n) || exit 1; done

# Container images (deploy/docker/Dockerfile; compiles the project inside the
# build stage: CPU-heavy) and the real stack in containers (podman +
# docker-compose, opt-in, not part of `make test`): builds the images, brings
# deploy/docker-compose.yml up, runs the CLI against it, takes it down.
# STACK_ARGS: --no-build, --from-head, --keep, --no-pipeline, --train_seconds=S.
# cluster-stack-test: the search cluster only (etcd, 3 nodes, 2 routers), a
# node killed under search load (tests/containers/cluster_stack_test.sh).
# CLUSTER_STACK_ARGS: --no-build, --from-head, --keep, --duration_seconds=D,
# --items=N, --victim=N.
STACK_ARGS ?=
CLUSTER_STACK_ARGS ?=
images:
	bash deploy/podman/setup.sh
	bash deploy/docker/build-images.sh

stack-test:
	bash tests/containers/stack_test.sh $(STACK_ARGS)

cluster-stack-test:
	bash tests/containers/cluster_stack_test.sh $(CLUSTER_STACK_ARGS)

clean:
	rm -rf build build-asan build-tsan build-fuzz
