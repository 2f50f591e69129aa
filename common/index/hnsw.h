// An HNSW graph (hnswlib 0.6.2) over chosen rows of a base matrix, for one
// metric: L2 and cosine (inner product on normalised vectors) through our
// own hnswlib spaces using the dispatched kernels of metric.h, and L1
// through an L1 space hnswlib does not ship. hnswlib is included from
// hnsw.cc only (it defines non-inline functions in its headers).
//
// An index is built from a set of rows and then searched; Add inserts more
// rows into an index no search can see yet (the Collection extends a graph
// loaded from disk with the log tail before publishing it, and the graphs
// it serves with the rows added since the last build when it closes).
// Otherwise the Collection builds a new one aside and swaps it in (STYLE.md
// point 10).
// Thread-safety: Build/Load produce a new object; Search and Save are safe
// concurrently on a built index (Save to distinct paths); Add needs the
// index to itself (no concurrent call of any method).
#ifndef LATENTSEARCH_COMMON_INDEX_HNSW_H_
#define LATENTSEARCH_COMMON_INDEX_HNSW_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/index/bitset.h"
#include "common/index/exact.h"
#include "common/index/metric.h"

namespace latentsearch::base {
class FileOps;
}  // namespace latentsearch::base

namespace latentsearch::index {

struct HnswParams {
  size_t m = 16;                 // graph degree, 2..128
  size_t ef_construction = 200;  // 1..4096
  uint64_t seed = 100;           // hnswlib's level generator seed
};

struct HnswSearchOptions {
  size_t k = 10;
  // Candidate list size; raised to k when smaller.
  size_t ef = 64;
  // Only these slots; nullptr = all. With a selective filter the search
  // widens ef (up to a cap) and reports `complete = false` when it still
  // cannot vouch for the result; the caller then answers exactly.
  const Bitset* allowed = nullptr;
  // With a filter, the allowed rows may be scored exactly instead of walking
  // the graph when that is estimated to be cheaper (HnswResult::exact_scan).
  // false forces the graph walk (benchmarks, tests).
  bool allow_exact_scan = true;
};

struct HnswResult {
  std::vector<Neighbor> neighbors;  // closest first, distances as metric.h
  // False when a filter left too few candidates for HNSW to be trusted.
  bool complete = true;
  // True when a selective filter was answered by scoring every allowed row
  // of the graph (exact for those rows) instead of walking the graph.
  bool exact_scan = false;
  // Distances computed (a cost measure for tuning and benchmarks).
  size_t distance_computations = 0;
};

class HnswIndex {
 public:
  // Builds over `count` rows: row j of the index is base[slots[j] * dim ..]
  // (base is n × dim; every slots[j] < n), labelled with slots[j]. For
  // kCosine the rows must be normalised. Uses `num_threads` (0 = hardware
  // concurrency) for insertion. Errors: INVALID_ARGUMENT for bad params,
  // RESOURCE_EXHAUSTED / INTERNAL for hnswlib failures (caught here).
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Build(Metric metric, size_t dim,
                                                          const float* base, const uint32_t* slots,
                                                          size_t count, const HnswParams& params,
                                                          int num_threads = 0);

  // Inserts `count` more rows, labelled like Build's (base is n × dim, rows
  // already in the graph must not be given again), on `num_threads`
  // threads. Their levels come from a generator seeded with `seed` and the
  // graph's size. Errors as Build's; after an error the index holds an
  // unspecified subset of the rows and should be dropped.
  absl::Status Add(const float* base, const uint32_t* slots, size_t count, uint64_t seed,
                   int num_threads = 0);

  // hnswlib's own file format (hnsw_format.h), published at `path`
  // atomically through `ops` (nullptr = base::DefaultFileOps()): temp file,
  // fsync, rename, directory fsync; the caller checksums it. / Read back
  // for `metric` and `dim`. Load errors (truncated, wrong dim) are
  // DATA_LOSS naming the path.
  absl::Status Save(const std::string& path, base::FileOps* ops = nullptr) const;
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Load(const std::string& path, Metric metric,
                                                         size_t dim);
  // Load from a file's contents already in memory (`path` only names it in
  // errors), for callers that read the file to check it first.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> LoadFromBytes(const std::string& path,
                                                                  const std::string& bytes,
                                                                  Metric metric, size_t dim);

  // One query (dim floats; normalised for kCosine).
  HnswResult Search(const float* query, const HnswSearchOptions& options) const;

  Metric metric() const;
  size_t dim() const;
  size_t size() const;          // rows in the graph
  size_t memory_bytes() const;  // approximate

  ~HnswIndex();

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_HNSW_H_
