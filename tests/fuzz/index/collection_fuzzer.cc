// The collection loader on arbitrary bytes: snapshot, write-ahead log and a
// saved HNSW graph (common/index/storage.h, hnsw.h, collection.h).
//
// Input: u8 flags | u32 len | snapshot bytes | rest (log or graph bytes).
//   bit0  fix the snapshot header (payload length and CRC-32) so the
//         payload parser is reached;
//   bit1  fix every log record's CRC-32 (record lengths as given);
//   bit2  open a Collection on the two files (else decode/read only), then
//         search every metric exactly and by HNSW;
//   bit3  after opening, snapshot and reopen: the items, tombstones,
//         versions and the replica summary must survive;
//   bit4  the rest is an HNSW graph file instead of a log: load it for the
//         snapshot's dim and metric (flags >> 5) and search it.
// Nothing may crash. A damaged file is DATA_LOSS (or NOT_FOUND); a torn
// log tail is cut off. An opened collection's Scan must ascend strictly and
// agree with its Summary (counts, digest recomputed from the entries).
// Snapshots of format 1 and 2 and log records of types 1 to 3 (versioned
// batches) are all reachable. Files live in a private tmpfs directory.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/crc32.h"
#include "common/index/collection.h"
#include "common/index/hnsw.h"
#include "common/index/storage.h"
#include "common/index/versioning.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch::index;
using latentsearch::fuzz::Input;
using latentsearch::fuzz::MemFile;
using latentsearch::fuzz::ScratchDir;
using latentsearch::fuzz::Violation;
using latentsearch::fuzz::WriteScratchFile;

constexpr uint32_t kMaxSearchDim = 4096;

void FixSnapshot(std::string* s) {
  if (s->size() < 24) return;
  const uint64_t payload = s->size() - 24;
  std::memcpy(s->data() + 12, &payload, 8);
  const uint32_t crc = latentsearch::base::Crc32(s->data() + 24, payload);
  std::memcpy(s->data() + 20, &crc, 4);
}

// Mirrors ReadWal's walk: every record whose length fits gets its CRC.
void FixWal(std::string* w) {
  size_t pos = kWalHeaderSize;
  while (pos + 8 <= w->size()) {
    uint32_t len = 0;
    std::memcpy(&len, w->data() + pos, 4);
    if (len > w->size() - pos - 8) return;
    const uint32_t crc = latentsearch::base::Crc32(w->data() + pos + 8, len);
    std::memcpy(w->data() + pos + 4, &crc, 4);
    pos += 8 + len;
  }
}

void ExpectDataLossOrNotFound(const absl::Status& s, const char* what) {
  if (s.ok() || s.code() == absl::StatusCode::kDataLoss ||
      s.code() == absl::StatusCode::kNotFound) {
    return;
  }
  Violation(absl::StrCat(what, ": unexpected code: ", s.ToString()));
}

const std::string& CollectionDir() {
  static const std::string* dir = new std::string(ScratchDir() + "/collection");
  return *dir;
}

// Removes every file a previous input left (snapshot, log, graphs, temps).
void ClearDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') unlink((dir + "/" + e->d_name).c_str());
  }
  closedir(d);
}

// The log's file name (private to collection.cc), checked once against a
// collection created for the purpose.
const std::string& WalName() {
  static const std::string* name = [] {
    auto* n = new std::string("wal.log");
    CollectionConfig config;
    config.dim = 1;
    config.hnsw = false;
    CollectionOptions options;
    options.dir = ScratchDir() + "/probe";
    options.num_threads = 1;
    auto c = Collection::Create(config, options);
    struct stat st;
    if (!c.ok() || stat((options.dir + "/" + *n).c_str(), &st) != 0) {
      Violation("the collection's log is not " + *n + " any more; update the harness");
    }
    return n;
  }();
  return *name;
}

// Scan must list the live items and tombstones once each, ascending, and
// Summary must count them and XOR their entry hashes.
void CheckScanAgainstSummary(const Collection& c) {
  const ReplicaSummary s = c.Summary();
  const std::vector<VersionedEntry> all = c.Scan("", SIZE_MAX, true, false);
  uint64_t live = 0, dead = 0, digest = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0 && !(all[i - 1].meta.id < all[i].meta.id)) Violation("Scan is not ascending");
    (all[i].deleted ? dead : live) += 1;
    digest ^= ReplicaEntryHash(all[i].meta.id, all[i].version, all[i].deleted);
    if (all[i].version > s.max_version) Violation("an entry's version exceeds max_version");
  }
  if (live != s.item_count || dead != s.tombstones || digest != s.digest) {
    Violation(absl::StrCat("Scan disagrees with Summary: ", live, "/", dead, " entries, summary ",
                           s.item_count, "/", s.tombstones, ", digests ", digest, " vs ",
                           s.digest));
  }
}

void SearchAll(const Collection& c) {
  const uint32_t dim = c.config().dim;
  if (dim > kMaxSearchDim) return;
  std::vector<float> query(dim, 0.5f);
  for (Metric m : c.config().metrics) {
    for (bool hnsw : {false, true}) {
      SearchParams p;
      p.metric = m;
      p.hnsw = hnsw;
      p.k = 3;
      p.labels = {0, 1};
      SearchResult r = c.Search(query.data(), p);
      if (r.hits.size() > 3) Violation("search returned more than k hits");
      p.labels.clear();
      r = c.Search(query.data(), p);
      if (r.hits.size() > 3) Violation("search returned more than k hits");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.U8();
  std::string snapshot = in.LengthPrefixed();
  std::string rest = in.Rest();
  if (flags & 1) FixSnapshot(&snapshot);

  absl::StatusOr<SnapshotData> snap = DecodeSnapshot(snapshot, "fuzz.snapshot");
  ExpectDataLossOrNotFound(snap.status(), "DecodeSnapshot");

  if (flags & 16) {
    // A saved graph, loaded as LoadGraphs would (it checks the manifest's
    // CRC first; a CRC-valid graph must still never crash the loader).
    const uint32_t dim = snap.ok() ? snap->config.dim : 4;
    const Metric metric = static_cast<Metric>((flags >> 5) % 3);
    MemFile graph("graph", rest);
    absl::StatusOr<std::unique_ptr<HnswIndex>> index = HnswIndex::Load(graph.path(), metric, dim);
    ExpectDataLossOrNotFound(index.status(), "HnswIndex::Load");
    if (index.ok() && dim <= kMaxSearchDim) {
      std::vector<float> query(dim, 0.25f);
      HnswSearchOptions options;
      options.k = 5;
      HnswResult r = (*index)->Search(query.data(), options);
      if (r.neighbors.size() > 5) Violation("HNSW search returned more than k");
    }
    return 0;
  }

  if (flags & 2) FixWal(&rest);
  {
    MemFile wal("wal", rest);
    absl::StatusOr<WalReadResult> records = ReadWal(wal.path(), snap.ok() ? snap->config.dim : 4);
    ExpectDataLossOrNotFound(records.status(), "ReadWal");
    if (records.ok() && records->valid_bytes > rest.size()) {
      Violation("ReadWal: valid_bytes beyond the file");
    }
  }
  if (!(flags & 4) || !snap.ok()) return 0;

  const std::string& dir = CollectionDir();
  mkdir(dir.c_str(), 0700);
  ClearDir(dir);
  WriteScratchFile(Collection::SnapshotPath(dir), snapshot);
  WriteScratchFile(dir + "/" + WalName(), rest);

  CollectionOptions options;
  options.dir = dir;
  options.num_threads = 1;
  options.rebuild_min_changes = 1;
  uint64_t items = 0;
  ReplicaSummary summary;
  {
    absl::StatusOr<std::unique_ptr<Collection>> c = Collection::Open(options);
    ExpectDataLossOrNotFound(c.status(), "Collection::Open");
    if (!c.ok()) return 0;
    (*c)->WaitForIndexes();
    SearchAll(**c);
    CollectionStats stats = (*c)->Stats();
    items = stats.item_count;
    if ((*c)->ListIds().size() != items) Violation("ListIds disagrees with item_count");
    CheckScanAgainstSummary(**c);
    summary = (*c)->Summary();
    if (!(flags & 8)) return 0;
    absl::StatusOr<SnapshotInfoData> info = (*c)->Snapshot();
    if (!info.ok())
      Violation("Snapshot of a loaded collection failed: " + info.status().ToString());
  }
  absl::StatusOr<std::unique_ptr<Collection>> again = Collection::Open(options);
  if (!again.ok()) Violation("reopening after a snapshot failed: " + again.status().ToString());
  if ((*again)->Stats().item_count != items) {
    Violation(absl::StrCat("items changed across snapshot + reopen: ", items, " -> ",
                           (*again)->Stats().item_count));
  }
  const ReplicaSummary after = (*again)->Summary();
  if (after.tombstones != summary.tombstones || after.max_version != summary.max_version ||
      after.digest != summary.digest) {
    Violation("tombstones, max_version or digest changed across snapshot + reopen");
  }
  CheckScanAgainstSummary(**again);
  return 0;
}
