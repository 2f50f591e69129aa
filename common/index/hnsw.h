// An HNSW graph (hnswlib 0.6.2) over chosen rows of a base matrix, for one
// metric: L2 and cosine (inner product) through our own hnswlib spaces using
// the dispatched kernels of metric.h, and L1 through an L1 space hnswlib
// does not ship. hnswlib is included from hnsw.cc only (it defines
// non-inline functions in its headers).
//
// Two ways to hold the rows:
//  * Build / Load copy each row into the graph (hnswlib's own layout; for
//    kCosine the rows must be normalised);
//  * BuildOver / LoadOver read the rows in place from a RowSource the caller
//    keeps (the Collection's VectorStore): each graph element holds a
//    16-byte reference instead of dim floats, so several metrics' graphs
//    share one copy of the vectors. For kCosine the rows are raw and the
//    graph keeps each row's InverseNorm (metric.h) in its reference.
//
// Growth: Add / AddOver insert more rows while searches go on. They take
// the index's writer lock for at most kAddBatchRows rows at a time, so a
// search waits for at most one such batch, never for a whole Add.
// Thread-safety: Build/Load produce a new object; Search, Save, size and
// memory_bytes are safe concurrently with each other and with one Add (Save
// to distinct paths); Adds must not run concurrently with each other.
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

// The rows a graph built with BuildOver reads: row `slot` is base + slot ·
// dim for every slot < rows. The rows must neither move nor change while an
// index built over them lives (VectorStore keeps both promises).
struct RowSource {
  const float* base = nullptr;
  size_t rows = 0;
};

class HnswIndex {
 public:
  // Rows inserted under one hold of the writer lock by Add / AddOver.
  static constexpr size_t kAddBatchRows = 64;

  // Builds over `count` rows: row j of the index is base[slots[j] * dim ..]
  // (base is n × dim; every slots[j] < n), labelled with slots[j]. For
  // kCosine the rows must be normalised. Uses `num_threads` (0 = hardware
  // concurrency) for insertion. Errors: INVALID_ARGUMENT for bad params,
  // RESOURCE_EXHAUSTED / INTERNAL for hnswlib failures (caught here).
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Build(Metric metric, size_t dim,
                                                          const float* base, const uint32_t* slots,
                                                          size_t count, const HnswParams& params,
                                                          int num_threads = 0);

  // As Build, but the graph reads the rows in place from `rows` (see the
  // file comment); for kCosine the rows need not be normalised.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> BuildOver(Metric metric, size_t dim,
                                                              const RowSource& rows,
                                                              const uint32_t* slots, size_t count,
                                                              const HnswParams& params,
                                                              int num_threads = 0);

  // Inserts `count` more rows, labelled like Build's (base is n × dim, rows
  // already in the graph must not be given again), on `num_threads`
  // threads, kAddBatchRows at a time under the writer lock (searches go on
  // between batches and see the rows inserted so far). Their levels come from a generator seeded
  // with `seed` and the graph's size. Errors as Build's; after an error the index holds an
  // unspecified subset of the rows and should be dropped.
  absl::Status Add(const float* base, const uint32_t* slots, size_t count, uint64_t seed,
                   int num_threads = 0);
  // Add for an index built (or loaded) over rows: `rows` is the same source,
  // possibly grown. FAILED_PRECONDITION for an index that copies its rows.
  absl::Status AddOver(const RowSource& rows, const uint32_t* slots, size_t count, uint64_t seed,
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

  // Load / LoadFromBytes for a graph saved by an index built over rows:
  // each element's label (its slot) must be < rows.rows, or DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> LoadOver(const std::string& path,
                                                             const std::string& bytes,
                                                             Metric metric, size_t dim,
                                                             const RowSource& rows);

  // One query (dim floats; normalised for kCosine).
  HnswResult Search(const float* query, const HnswSearchOptions& options) const;

  Metric metric() const;
  size_t dim() const;
  size_t size() const;          // rows in the graph
  size_t memory_bytes() const;  // approximate
  // Whether the graph reads its rows in place (BuildOver / LoadOver).
  bool reads_in_place() const;

  ~HnswIndex();

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  // Build/BuildOver, Add/AddOver and the loads: row `slot` at base + slot ·
  // dim, copied into the graph or (by_ref / rows) read in place.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> BuildRows(Metric metric, size_t dim,
                                                              const float* base, bool by_ref,
                                                              const uint32_t* slots, size_t count,
                                                              const HnswParams& params,
                                                              int num_threads);
  absl::Status AddRows(const float* base, const uint32_t* slots, size_t count, uint64_t seed,
                       int num_threads);
  static absl::StatusOr<std::unique_ptr<HnswIndex>> LoadRows(const std::string& path,
                                                             const std::string& bytes,
                                                             Metric metric, size_t dim,
                                                             const RowSource* rows);
  std::unique_ptr<Impl> impl_;
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_HNSW_H_
