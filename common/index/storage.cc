#include "common/index/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/base/crc32.h"
#include "common/base/errno_status.h"
#include "common/base/file.h"
#include "common/base/little_endian.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"

namespace latentsearch::index {
namespace {

constexpr char kSnapshotMagic[8] = {'L', 'S', 'S', 'N', 'A', 'P', '0', '1'};
constexpr char kWalMagic[8] = {'L', 'S', 'W', 'A', 'L', '0', '0', '1'};
// The snapshot format written (kSnapshotVersion) and the oldest still read.
constexpr uint32_t kSnapshotVersion = 2;
constexpr uint32_t kOldestSnapshotVersion = 1;
// The log header's version; record type 3 did not change it (storage.h).
constexpr uint32_t kWalVersion = 1;
constexpr size_t kSnapshotHeaderBytes = 8 + 4 + 8 + 4;
constexpr size_t kWalHeaderBytes = kWalHeaderSize;
static_assert(kWalHeaderSize == 8 + 4 + 4);
constexpr size_t kRecordHeaderBytes = 4 + 4;
// Upper bound on one log record, against garbage lengths.
constexpr uint32_t kMaxRecordBytes = 1u << 30;

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { base::AppendLittleEndian(v, &out_); }
  void I32(int32_t v) { base::AppendLittleEndian(v, &out_); }
  void U64(uint64_t v) { base::AppendLittleEndian(v, &out_); }
  void I64(int64_t v) { base::AppendLittleEndian(v, &out_); }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void Floats(const float* f, size_t n) { Raw(f, n * sizeof(float)); }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// Bounds-checked little-endian reader; the first failure sticks and names
// the offset (relative to `base`, the payload's position in the file).
class Reader {
 public:
  Reader(const char* p, size_t n, uint64_t base, const std::string& path)
      : p_(p), n_(n), base_(base), path_(path) {}

  bool U8(uint8_t* v, const char* what) { return Le(v, what); }
  bool U32(uint32_t* v, const char* what) { return Le(v, what); }
  bool I32(int32_t* v, const char* what) { return Le(v, what); }
  bool U64(uint64_t* v, const char* what) { return Le(v, what); }
  bool I64(int64_t* v, const char* what) { return Le(v, what); }
  bool Str(std::string* s, const char* what) {
    uint32_t len = 0;
    if (!U32(&len, what)) return false;
    if (len > n_ - pos_) return Fail(what, len);
    s->assign(p_ + pos_, len);
    pos_ += len;
    return true;
  }
  bool Floats(std::vector<float>* v, size_t count, const char* what) {
    if (count == 0) return true;  // memcpy from/to a null pointer is undefined.
    if (count > (n_ - pos_) / sizeof(float)) return Fail(what, count * 4);
    size_t old = v->size();
    v->resize(old + count);
    std::memcpy(v->data() + old, p_ + pos_, count * sizeof(float));
    pos_ += count * sizeof(float);
    return true;
  }
  template <typename T>
  bool Le(T* v, const char* what) {
    if (sizeof(T) > n_ - pos_) return Fail(what, sizeof(T));
    *v = base::LoadLittleEndian<T>(p_ + pos_);
    pos_ += sizeof(T);
    return true;
  }
  bool Raw(void* out, size_t n, const char* what) {
    if (n > n_ - pos_) return Fail(what, n);
    std::memcpy(out, p_ + pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return n_ - pos_; }
  const absl::Status& status() const { return status_; }
  absl::Status Error(const std::string& msg) const {
    return absl::DataLossError(
        absl::StrCat("'", path_, "' at byte offset ", base_ + pos_, ": ", msg));
  }

 private:
  bool Fail(const char* what, size_t wanted) {
    if (status_.ok()) {
      status_ = absl::DataLossError(
          absl::StrCat("'", path_, "' is truncated at byte offset ", base_ + pos_, ": expected ",
                       wanted, " more bytes for ", what, ", ", n_ - pos_, " left"));
    }
    return false;
  }
  const char* p_;
  size_t n_;
  size_t pos_ = 0;
  uint64_t base_;
  const std::string& path_;
  absl::Status status_;
};

void EncodeConfig(const CollectionConfig& c, Writer* w) {
  w->Str(c.name);
  w->U32(c.dim);
  w->Str(c.model_name);
  w->U64(c.model_version);
  w->U32(static_cast<uint32_t>(c.metrics.size()));
  for (Metric m : c.metrics) w->U8(static_cast<uint8_t>(m));
  w->U8(c.hnsw ? 1 : 0);
  w->U64(c.hnsw_params.m);
  w->U64(c.hnsw_params.ef_construction);
  w->U64(c.hnsw_params.seed);
  w->U32(c.ef_search);
  w->I64(c.created_at_us);
}

absl::Status DecodeConfig(Reader* r, CollectionConfig* c) {
  uint32_t n_metrics = 0;
  uint8_t hnsw = 0;
  uint64_t m = 0, efc = 0, seed = 0;
  if (!r->Str(&c->name, "collection name") || !r->U32(&c->dim, "dim") ||
      !r->Str(&c->model_name, "model name") || !r->U64(&c->model_version, "model version") ||
      !r->U32(&n_metrics, "metric count")) {
    return r->status();
  }
  if (n_metrics > 3) return r->Error(absl::StrCat(n_metrics, " metrics; expected at most 3"));
  c->metrics.clear();
  for (uint32_t i = 0; i < n_metrics; ++i) {
    uint8_t v = 0;
    if (!r->U8(&v, "metric")) return r->status();
    if (v > 2) return r->Error(absl::StrCat("unknown metric code ", v, "; expected 0..2"));
    c->metrics.push_back(static_cast<Metric>(v));
  }
  if (!r->U8(&hnsw, "hnsw flag") || !r->U64(&m, "hnsw m") ||
      !r->U64(&efc, "hnsw ef_construction") || !r->U64(&seed, "hnsw seed") ||
      !r->U32(&c->ef_search, "ef_search") || !r->I64(&c->created_at_us, "creation time")) {
    return r->status();
  }
  if (c->dim == 0) return r->Error("dim 0; expected >= 1");
  // A config no collection can have (the builder would retry a failing
  // HNSW build forever): the limits of CreateCollection / HnswIndex::Build.
  if (c->metrics.empty()) return r->Error("no metrics; expected 1..3");
  for (size_t i = 0; i < c->metrics.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (c->metrics[i] == c->metrics[j]) return r->Error("a metric is listed twice");
    }
  }
  if (hnsw != 0 && (m < 2 || m > 128 || efc < 1 || efc > 4096)) {
    return r->Error(absl::StrCat("HNSW m ", m, ", ef_construction ", efc,
                                 "; expected m 2..128, ef_construction 1..4096"));
  }
  c->hnsw = hnsw != 0;
  c->hnsw_params.m = m;
  c->hnsw_params.ef_construction = efc;
  c->hnsw_params.seed = seed;
  return absl::OkStatus();
}

void EncodeItems(const ItemBatch& b, uint32_t dim, Writer* w) {
  for (const ItemMeta& m : b.metas) {
    w->Str(m.id);
    w->I32(m.label);
    w->Str(m.uri);
  }
  w->Floats(b.vectors.data(), b.metas.size() * dim);
}

absl::Status DecodeItems(Reader* r, uint64_t n, uint32_t dim, ItemBatch* b) {
  // Each item needs at least 12 bytes of meta plus its vector.
  if (n > r->remaining() / (12 + uint64_t{dim} * 4)) {
    return r->Error(absl::StrCat(n, " items of dim ", dim, " cannot fit in the ", r->remaining(),
                                 " bytes left"));
  }
  b->metas.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    ItemMeta& m = b->metas[i];
    if (!r->Str(&m.id, "item id") || !r->I32(&m.label, "item label") ||
        !r->Str(&m.uri, "item uri")) {
      return r->status();
    }
  }
  b->vectors.clear();
  if (!r->Floats(&b->vectors, n * dim, "vectors")) return r->status();
  return absl::OkStatus();
}

// Item versions, max_version and tombstones: the part of a version-2
// snapshot payload after the vectors.
void EncodeVersions(const SnapshotData& data, Writer* w) {
  const size_t n = data.items.metas.size();
  for (size_t i = 0; i < n; ++i) w->U64(data.versions.empty() ? 0 : data.versions[i]);
  w->U64(data.max_version);
  w->U64(data.tombstones.size());
  for (const Tombstone& t : data.tombstones) {
    w->Str(t.id);
    w->U64(t.version);
  }
}

// A type-3 log record's body (after seq and type).
void EncodeVersioned(const VersionedWriteBatch& b, uint32_t dim, Writer* w) {
  w->U32(static_cast<uint32_t>(b.upserts.metas.size()));
  EncodeItems(b.upserts, dim, w);
  for (uint64_t v : b.upsert_versions) w->U64(v);
  w->U32(static_cast<uint32_t>(b.delete_ids.size()));
  for (size_t i = 0; i < b.delete_ids.size(); ++i) {
    w->Str(b.delete_ids[i]);
    w->U64(b.delete_versions[i]);
  }
}

// `count` u64 values, each named `what`.
absl::Status DecodeU64s(Reader* r, uint64_t count, std::vector<uint64_t>* out, const char* what) {
  if (count > r->remaining() / 8) {
    return r->Error(absl::StrCat(count, " values (", what, ") cannot fit in the ", r->remaining(),
                                 " bytes left"));
  }
  out->resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (!r->U64(&(*out)[i], what)) return r->status();
  }
  return absl::OkStatus();
}

std::string EncodeWalPayload(const WalRecord& rec, uint32_t dim) {
  Writer w;
  w.U64(rec.seq);
  w.U8(static_cast<uint8_t>(rec.type));
  if (rec.type == WalRecord::Type::kUpsert) {
    w.U32(static_cast<uint32_t>(rec.upserts.metas.size()));
    EncodeItems(rec.upserts, dim, &w);
  } else if (rec.type == WalRecord::Type::kVersioned) {
    EncodeVersioned(rec.versioned, dim, &w);
  } else {
    w.U32(static_cast<uint32_t>(rec.delete_ids.size()));
    for (const std::string& id : rec.delete_ids) w.Str(id);
  }
  return std::move(w.out());
}

std::string WalHeader(uint32_t dim) {
  Writer w;
  w.Raw(kWalMagic, 8);
  w.U32(kWalVersion);
  w.U32(dim);
  return std::move(w.out());
}

}  // namespace

std::string EncodeSnapshot(const SnapshotData& data) {
  Writer payload;
  EncodeConfig(data.config, &payload);
  payload.U64(data.wal_seq);
  payload.U64(data.items.metas.size());
  EncodeItems(data.items, data.config.dim, &payload);
  EncodeVersions(data, &payload);
  Writer out;
  out.Raw(kSnapshotMagic, 8);
  out.U32(kSnapshotVersion);
  out.U64(payload.out().size());
  out.U32(base::Crc32(payload.out().data(), payload.out().size()));
  out.out().append(payload.out());
  return std::move(out.out());
}

namespace {

// The tombstones of a version-2 payload: ids strictly ascending, none of
// them a live item.
absl::Status DecodeTombstones(Reader* r, const ItemBatch& items, std::vector<Tombstone>* out) {
  uint64_t t = 0;
  if (!r->U64(&t, "tombstone count")) return r->status();
  // Each needs at least a u32 length and a u64 version.
  if (t > r->remaining() / 12) {
    return r->Error(
        absl::StrCat(t, " tombstones cannot fit in the ", r->remaining(), " bytes left"));
  }
  out->resize(t);
  for (uint64_t i = 0; i < t; ++i) {
    Tombstone& ts = (*out)[i];
    if (!r->Str(&ts.id, "tombstone id") || !r->U64(&ts.version, "tombstone version")) {
      return r->status();
    }
    if (i > 0 && !((*out)[i - 1].id < ts.id)) {
      return r->Error(absl::StrCat("tombstone ", i,
                                   " is not after the previous one; expected ids "
                                   "strictly ascending"));
    }
  }
  if (out->empty()) return absl::OkStatus();
  absl::flat_hash_set<absl::string_view> dead;
  for (const Tombstone& ts : *out) dead.insert(ts.id);
  for (const ItemMeta& m : items.metas) {
    if (dead.contains(m.id)) {
      return r->Error(absl::StrCat("item '", m.id.substr(0, 64), "' is both live and a tombstone"));
    }
  }
  return absl::OkStatus();
}

// The payload after the header: config, items and (version 2) versions and
// tombstones.
absl::Status DecodeSnapshotPayload(Reader* r, uint32_t version, SnapshotData* data) {
  LS_RETURN_IF_ERROR(DecodeConfig(r, &data->config));
  uint64_t n = 0;
  if (!r->U64(&data->wal_seq, "log sequence") || !r->U64(&n, "item count")) {
    return r->status();
  }
  LS_RETURN_IF_ERROR(DecodeItems(r, n, data->config.dim, &data->items));
  if (version == 1) {
    data->versions.assign(n, 0);
  } else {
    LS_RETURN_IF_ERROR(DecodeU64s(r, n, &data->versions, "item version"));
    if (!r->U64(&data->max_version, "max version")) return r->status();
    LS_RETURN_IF_ERROR(DecodeTombstones(r, data->items, &data->tombstones));
  }
  if (r->remaining() != 0) {
    return r->Error(absl::StrCat(r->remaining(), " unexpected bytes after the last ",
                                 version == 1 ? "item" : "tombstone"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SnapshotData> DecodeSnapshot(const std::string& bytes, const std::string& path) {
  Reader header(bytes.data(), bytes.size(), 0, path);
  char magic[8];
  uint32_t version = 0;
  uint64_t payload_bytes = 0;
  uint32_t crc = 0;
  if (!header.Raw(magic, 8, "the magic number")) return header.status();
  if (std::memcmp(magic, kSnapshotMagic, 8) != 0) {
    return absl::DataLossError(
        absl::StrCat("'", path,
                     "' is not a latentsearch snapshot: bad magic number at byte "
                     "offset 0; expected \"LSSNAP01\""));
  }
  if (!header.U32(&version, "the format version")) return header.status();
  if (version < kOldestSnapshotVersion || version > kSnapshotVersion) {
    return absl::DataLossError(absl::StrCat("'", path, "': snapshot format version ", version,
                                            "; this build reads versions ", kOldestSnapshotVersion,
                                            " to ", kSnapshotVersion));
  }
  if (!header.U64(&payload_bytes, "the payload length") ||
      !header.U32(&crc, "the payload checksum")) {
    return header.status();
  }
  if (bytes.size() - kSnapshotHeaderBytes != payload_bytes) {
    return absl::DataLossError(
        absl::StrCat("'", path, "' is ", bytes.size(), " bytes; its header announces ",
                     kSnapshotHeaderBytes + payload_bytes,
                     bytes.size() < kSnapshotHeaderBytes + payload_bytes ? " (truncated)"
                                                                         : " (trailing bytes)"));
  }
  const char* payload = bytes.data() + kSnapshotHeaderBytes;
  uint32_t actual = base::Crc32(payload, payload_bytes);
  if (actual != crc) {
    return absl::DataLossError(absl::StrCat("'", path, "': payload checksum mismatch (crc32 ",
                                            actual, ", header says ", crc,
                                            "); the file is corrupt"));
  }
  Reader r(payload, payload_bytes, kSnapshotHeaderBytes, path);
  SnapshotData data;
  LS_RETURN_IF_ERROR(DecodeSnapshotPayload(&r, version, &data));
  return data;
}

absl::Status WriteSnapshot(const std::string& path, const SnapshotData& data) {
  return base::WriteFileAtomically(path, EncodeSnapshot(data));
}

absl::StatusOr<SnapshotData> ReadSnapshot(const std::string& path) {
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeSnapshot(*bytes, path);
}

namespace {

// The log's header: magic, format version and dim (the caller checked that
// `b` holds kWalHeaderBytes).
absl::Status CheckWalHeader(const std::string& b, const std::string& path, uint32_t dim) {
  Reader header(b.data(), kWalHeaderBytes, 0, path);
  char magic[8];
  uint32_t version = 0, file_dim = 0;
  header.Raw(magic, 8, "the magic number");
  header.U32(&version, "the format version");
  header.U32(&file_dim, "dim");
  if (std::memcmp(magic, kWalMagic, 8) != 0) {
    return absl::DataLossError(
        absl::StrCat("'", path,
                     "' is not a latentsearch log: bad magic number at byte offset 0; "
                     "expected \"LSWAL001\""));
  }
  if (version != kWalVersion) {
    return absl::DataLossError(absl::StrCat("'", path, "': log format version ", version,
                                            "; this build reads version ", kWalVersion));
  }
  if (file_dim != dim) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': log is for dim ", file_dim, "; the collection has dim ", dim));
  }
  return absl::OkStatus();
}

// A type-3 record's body after its upsert count `n`.
absl::Status DecodeVersionedBody(Reader* r, uint32_t n, uint32_t dim, VersionedWriteBatch* b) {
  LS_RETURN_IF_ERROR(DecodeItems(r, n, dim, &b->upserts));
  LS_RETURN_IF_ERROR(DecodeU64s(r, n, &b->upsert_versions, "upsert version"));
  uint32_t d = 0;
  if (!r->U32(&d, "delete count")) return r->status();
  // Each delete needs at least a u32 length and a u64 version.
  if (d > r->remaining() / 12) {
    return r->Error(absl::StrCat(d, " deletes cannot fit in the record"));
  }
  b->delete_ids.resize(d);
  b->delete_versions.resize(d);
  for (uint32_t i = 0; i < d; ++i) {
    if (!r->Str(&b->delete_ids[i], "deleted id") ||
        !r->U64(&b->delete_versions[i], "delete version")) {
      return r->status();
    }
  }
  return absl::OkStatus();
}

// Decodes one intact record's payload; its sequence must exceed `last_seq`.
absl::Status DecodeWalRecord(Reader* r, uint32_t dim, uint64_t last_seq, WalRecord* rec) {
  uint8_t type = 0;
  uint32_t count = 0;
  if (!r->U64(&rec->seq, "record sequence") || !r->U8(&type, "record type") ||
      !r->U32(&count, "record item count")) {
    return r->status();
  }
  if (rec->seq <= last_seq) {
    return r->Error(
        absl::StrCat("record sequence ", rec->seq, " does not increase (previous ", last_seq, ")"));
  }
  if (type == static_cast<uint8_t>(WalRecord::Type::kUpsert)) {
    rec->type = WalRecord::Type::kUpsert;
    absl::Status s = DecodeItems(r, count, dim, &rec->upserts);
    if (!s.ok()) return s;
  } else if (type == static_cast<uint8_t>(WalRecord::Type::kDelete)) {
    rec->type = WalRecord::Type::kDelete;
    if (count > r->remaining() / 4) {
      return r->Error(absl::StrCat(count, " ids cannot fit in the record"));
    }
    rec->delete_ids.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      if (!r->Str(&rec->delete_ids[i], "deleted id")) return r->status();
    }
  } else if (type == static_cast<uint8_t>(WalRecord::Type::kVersioned)) {
    rec->type = WalRecord::Type::kVersioned;
    LS_RETURN_IF_ERROR(DecodeVersionedBody(r, count, dim, &rec->versioned));
  } else {
    return r->Error(absl::StrCat("unknown record type ", int{type},
                                 "; expected 1 (upsert), 2 (delete) or 3 (versioned)"));
  }
  if (r->remaining() != 0) {
    return r->Error(absl::StrCat(r->remaining(), " unexpected bytes at the end of record"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WalReadResult> ReadWal(const std::string& path, uint32_t dim) {
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  const std::string& b = *bytes;
  WalReadResult result;
  if (b.size() < kWalHeaderBytes) {
    // A crash while creating the log: nothing in it was ever acknowledged.
    result.torn_tail = !b.empty();
    result.valid_bytes = 0;
    return result;
  }
  absl::Status s = CheckWalHeader(b, path, dim);
  if (!s.ok()) return s;
  uint64_t pos = kWalHeaderBytes;
  uint64_t last_seq = 0;
  while (pos < b.size()) {
    uint64_t left = b.size() - pos;
    if (left < kRecordHeaderBytes) break;  // Torn record header.
    const uint32_t len = base::LoadLittleEndian<uint32_t>(b.data() + pos);
    const uint32_t crc = base::LoadLittleEndian<uint32_t>(b.data() + pos + 4);
    bool fits = len <= kMaxRecordBytes && len <= left - kRecordHeaderBytes;
    const char* payload = b.data() + pos + kRecordHeaderBytes;
    bool intact = fits && base::Crc32(payload, len) == crc;
    if (!intact) {
      // Only the last record may be damaged (a torn append); anything after
      // a damaged record means the file itself is corrupt.
      bool is_last = !fits || pos + kRecordHeaderBytes + len == b.size();
      if (is_last) break;
      return absl::DataLossError(absl::StrCat(
          "'", path, "': log record ", result.records.size() + 1, " at byte offset ", pos,
          " fails its checksum and is followed by more records; the log is "
          "corrupt"));
    }
    Reader r(payload, len, pos + kRecordHeaderBytes, path);
    WalRecord rec;
    s = DecodeWalRecord(&r, dim, last_seq, &rec);
    if (!s.ok()) return s;
    last_seq = rec.seq;
    result.records.push_back(std::move(rec));
    pos += kRecordHeaderBytes + len;
  }
  result.valid_bytes = pos;
  result.torn_tail = pos < b.size();
  return result;
}

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Open(const std::string& path, uint32_t dim,
                                                           uint64_t valid_bytes) {
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists || static_cast<uint64_t>(st.st_size) < kWalHeaderBytes ||
      valid_bytes < kWalHeaderBytes) {
    absl::Status s = ResetWal(path, dim);
    if (!s.ok()) return s;
    valid_bytes = kWalHeaderBytes;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open log", path, errno);
  if (::ftruncate(fd, static_cast<off_t>(valid_bytes)) != 0 || ::fsync(fd) != 0) {
    absl::Status s = base::ErrnoError("truncate log", path, errno);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<WalWriter>(new WalWriter(fd, path, dim, valid_bytes));
}

WalWriter::WalWriter(int fd, std::string path, uint32_t dim, uint64_t size)
    : fd_(fd), path_(std::move(path)), dim_(dim), size_(size) {}

WalWriter::~WalWriter() { ::close(fd_); }

absl::Status CheckVersionedBatch(const VersionedWriteBatch& b, uint32_t dim) {
  const size_t n = b.upserts.metas.size();
  if (b.upsert_versions.size() != n || b.upserts.vectors.size() != n * dim ||
      b.delete_versions.size() != b.delete_ids.size()) {
    return absl::InternalError(absl::StrCat(
        "malformed versioned batch (a caller's bug): ", n, " upserts with ",
        b.upsert_versions.size(), " versions and ", b.upserts.vectors.size(), " floats (dim ", dim,
        "), ", b.delete_ids.size(), " deletes with ", b.delete_versions.size(), " versions"));
  }
  return absl::OkStatus();
}

absl::Status WalWriter::Append(const WalRecord& record) {
  if (record.type == WalRecord::Type::kVersioned) {
    LS_RETURN_IF_ERROR(CheckVersionedBatch(record.versioned, dim_));
  }
  std::string payload = EncodeWalPayload(record, dim_);
  if (payload.size() > kMaxRecordBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "log record of ", payload.size(), " bytes exceeds the limit of ", kMaxRecordBytes));
  }
  Writer w;
  w.U32(static_cast<uint32_t>(payload.size()));
  w.U32(base::Crc32(payload.data(), payload.size()));
  w.out().append(payload);
  const std::string& buf = w.out();
  size_t done = 0;
  absl::Status s;
  while (done < buf.size()) {
    ssize_t n =
        ::pwrite(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(size_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      s = base::ErrnoError("append to log", path_, errno);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (s.ok() && ::fdatasync(fd_) != 0) s = base::ErrnoError("fsync log", path_, errno);
  if (!s.ok()) {
    // Leave no partial record behind.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      LOG(WARNING) << "cannot cut a failed append off the log: "
                   << base::ErrnoError("truncate", path_, errno);
    }
    return s;
  }
  size_ += buf.size();
  return absl::OkStatus();
}

absl::Status ResetWal(const std::string& path, uint32_t dim) {
  return base::WriteFileAtomically(path, WalHeader(dim));
}

}  // namespace latentsearch::index
