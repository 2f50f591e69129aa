// The on-disk formats as builds before per-item versions wrote them,
// encoded here independently of common/index/storage.cc so that tests can
// check such files still load: a version-1 snapshot (config, wal_seq, items,
// vectors; no versions, no tombstones) and log records of types 1 (upsert)
// and 2 (delete) after the unchanged version-1 log header.
//
// Thread-safety: plain functions without shared state.
#ifndef LATENTSEARCH_TESTS_UNIT_COLLECTION_FORMAT_V1_H_
#define LATENTSEARCH_TESTS_UNIT_COLLECTION_FORMAT_V1_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/base/crc32.h"
#include "common/index/collection_types.h"

namespace latentsearch::index::format_v1 {

// Little-endian appenders (the formats' byte order on any host).
inline void PutU(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutStr(std::string* out, const std::string& s) {
  PutU(out, s.size(), 4);
  out->append(s);
}
inline void PutFloats(std::string* out, const std::vector<float>& v) {
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    PutU(out, bits, 4);
  }
}
inline void PutItems(std::string* out, const ItemBatch& items) {
  for (const ItemMeta& m : items.metas) {
    PutStr(out, m.id);
    PutU(out, static_cast<uint32_t>(m.label), 4);
    PutStr(out, m.uri);
  }
  PutFloats(out, items.vectors);
}

// "LSSNAP01" | u32 1 | u64 payload bytes | u32 crc32 | payload, payload =
// config | u64 wal_seq | u64 n | n × (id, label, uri) | n × dim floats.
inline std::string Snapshot(const CollectionConfig& c, uint64_t wal_seq, const ItemBatch& items) {
  std::string p;
  PutStr(&p, c.name);
  PutU(&p, c.dim, 4);
  PutStr(&p, c.model_name);
  PutU(&p, c.model_version, 8);
  PutU(&p, c.metrics.size(), 4);
  for (Metric m : c.metrics) PutU(&p, static_cast<uint8_t>(m), 1);
  PutU(&p, c.hnsw ? 1 : 0, 1);
  PutU(&p, c.hnsw_params.m, 8);
  PutU(&p, c.hnsw_params.ef_construction, 8);
  PutU(&p, c.hnsw_params.seed, 8);
  PutU(&p, c.ef_search, 4);
  PutU(&p, static_cast<uint64_t>(c.created_at_us), 8);
  PutU(&p, wal_seq, 8);
  PutU(&p, items.metas.size(), 8);
  PutItems(&p, items);
  std::string out = "LSSNAP01";
  PutU(&out, 1, 4);
  PutU(&out, p.size(), 8);
  PutU(&out, base::Crc32(p.data(), p.size()), 4);
  return out + p;
}

// "LSWAL001" | u32 1 | u32 dim.
inline std::string LogHeader(uint32_t dim) {
  std::string out = "LSWAL001";
  PutU(&out, 1, 4);
  PutU(&out, dim, 4);
  return out;
}

// u32 payload bytes | u32 crc32 | payload.
inline std::string Record(const std::string& payload) {
  std::string out;
  PutU(&out, payload.size(), 4);
  PutU(&out, base::Crc32(payload.data(), payload.size()), 4);
  return out + payload;
}

// Type 1: u64 seq | u8 1 | u32 n | items | vectors.
inline std::string UpsertRecord(uint64_t seq, const ItemBatch& items) {
  std::string p;
  PutU(&p, seq, 8);
  PutU(&p, 1, 1);
  PutU(&p, items.metas.size(), 4);
  PutItems(&p, items);
  return Record(p);
}

// Type 2: u64 seq | u8 2 | u32 n | n × id.
inline std::string DeleteRecord(uint64_t seq, const std::vector<std::string>& ids) {
  std::string p;
  PutU(&p, seq, 8);
  PutU(&p, 2, 1);
  PutU(&p, ids.size(), 4);
  for (const std::string& id : ids) PutStr(&p, id);
  return Record(p);
}

}  // namespace latentsearch::index::format_v1

#endif  // LATENTSEARCH_TESTS_UNIT_COLLECTION_FORMAT_V1_H_
