#include "services/search/collection_manager.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"

namespace latentsearch::search {
namespace {

using index::Metric;

constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxUriBytes = 2048;
constexpr uint32_t kMaxEf = 4096;

std::string MetricList(const std::vector<Metric>& metrics) {
  std::vector<std::string> names;
  for (Metric m : metrics) names.emplace_back(index::MetricName(m));
  return absl::StrJoin(names, ", ");
}

absl::Status CheckVector(const float* v, size_t n, uint32_t dim, const std::string& what,
                         const std::string& collection) {
  if (n != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", n, " values; collection '", collection, "' has dim ", dim));
  }
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat(what, " value ", i, " is ",
                                                     std::isnan(v[i]) ? "NaN" : "infinite",
                                                     "; vectors must be finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CollectionManager::ValidateName(const std::string& name, size_t max_length) {
  if (name.empty() || name.size() > max_length) {
    return absl::InvalidArgumentError(absl::StrCat("collection name '", name, "' has ", name.size(),
                                                   " characters; allowed 1..", max_length,
                                                   " of [A-Za-z0-9_.-]"));
  }
  if (name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("collection name '", name, "' may not start with '.'"));
  }
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat("collection name '", name, "' contains '",
                                                     std::string(1, ch),
                                                     "'; allowed characters are [A-Za-z0-9_.-]"));
    }
  }
  return absl::OkStatus();
}

std::string CollectionManager::CollectionDir(const std::string& name) const {
  return base::JoinPath(base::JoinPath(options_.data_dir, "collections"), name);
}

absl::StatusOr<std::unique_ptr<CollectionManager>> CollectionManager::Create(
    const CollectionManagerOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("the search service needs a data directory");
  }
  auto core = std::unique_ptr<CollectionManager>(new CollectionManager(options));
  std::string root = base::JoinPath(options.data_dir, "collections");
  LS_RETURN_IF_ERROR(base::MakeDirs(root));
  // Leftovers of drops interrupted by a crash.
  std::error_code ec;
  std::filesystem::remove_all(base::JoinPath(options.data_dir, "dropped"), ec);

  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  absl::MutexLock l(&core->mu_);
  for (const std::string& name : names) {
    index::CollectionOptions copts = options.collection;
    copts.dir = core->CollectionDir(name);
    copts.num_threads = options.num_threads;
    absl::StatusOr<std::unique_ptr<index::Collection>> c = index::Collection::Open(copts);
    if (absl::IsNotFound(c.status()) &&
        !base::FileSize(index::Collection::SnapshotPath(copts.dir)).ok()) {
      // A create that crashed before its first snapshot was published: the
      // collection never existed.
      std::filesystem::remove_all(copts.dir, ec);
      continue;
    }
    if (!c.ok()) {
      core->failed_.push_back({name, c.status()});
      continue;
    }
    core->collections_[name] = std::move(*c);
  }
  return core;
}

absl::StatusOr<std::shared_ptr<index::Collection>> CollectionManager::Find(
    const std::string& name) const {
  absl::MutexLock l(&mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    for (const FailedCollection& f : failed_) {
      if (f.name == name) {
        return absl::DataLossError(
            absl::StrCat("collection '", name, "' failed to load: ", f.error.message()));
      }
    }
    return absl::NotFoundError(
        absl::StrCat("no collection named '", name, "'; ListCollections shows the existing ones"));
  }
  return it->second;
}

absl::StatusOr<index::CollectionConfig> ConfigFromSpec(const CreateSpec& spec, uint32_t max_dim) {
  LS_RETURN_IF_ERROR(CollectionManager::ValidateName(spec.name));
  if (spec.dim == 0 || spec.dim > max_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim ", spec.dim, " is out of range; allowed 1..", max_dim));
  }
  index::CollectionConfig config;
  config.name = spec.name;
  config.dim = spec.dim;
  config.model_name =
      spec.model_name.empty() && spec.model_version != 0 ? "default" : spec.model_name;
  config.model_version = spec.model_version;
  if (!spec.metrics.empty()) {
    config.metrics = spec.metrics;
    std::sort(config.metrics.begin(), config.metrics.end());
    config.metrics.erase(std::unique(config.metrics.begin(), config.metrics.end()),
                         config.metrics.end());
  }
  config.hnsw = spec.hnsw;
  config.hnsw_params.m = spec.m == 0 ? 16 : spec.m;
  config.hnsw_params.ef_construction = spec.ef_construction == 0 ? 200 : spec.ef_construction;
  config.ef_search = spec.ef_search == 0 ? 64 : spec.ef_search;
  if (config.hnsw_params.m < 2 || config.hnsw_params.m > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("hnsw.m ", config.hnsw_params.m, " is out of range; allowed 2..128"));
  }
  if (config.hnsw_params.ef_construction > kMaxEf ||
      config.hnsw_params.ef_construction < config.hnsw_params.m) {
    return absl::InvalidArgumentError(
        absl::StrCat("hnsw.ef_construction ", config.hnsw_params.ef_construction,
                     " is out of range; allowed m (", config.hnsw_params.m, ")..", kMaxEf));
  }
  if (config.ef_search > kMaxEf) {
    return absl::InvalidArgumentError(
        absl::StrCat("hnsw.ef_search ", config.ef_search, " is out of range; allowed 1..", kMaxEf));
  }
  config.created_at_us = absl::ToUnixMicros(absl::Now());
  return config;
}

absl::StatusOr<CollectionInfo> CollectionManager::CreateCollection(const CreateSpec& spec) {
  LS_ASSIGN_OR_RETURN(index::CollectionConfig config, ConfigFromSpec(spec, options_.max_dim));
  return CreateFromConfig(config, spec.if_not_exists);
}

absl::StatusOr<CollectionInfo> CollectionManager::CreateFromConfig(
    const index::CollectionConfig& config, bool if_not_exists) {
  LS_RETURN_IF_ERROR(ValidateName(config.name, options_.max_name_length));
  absl::MutexLock l(&mu_);
  auto it = collections_.find(config.name);
  if (it != collections_.end()) {
    const index::CollectionConfig& have = it->second->config();
    if (if_not_exists && have.dim == config.dim && have.model_name == config.model_name &&
        have.model_version == config.model_version) {
      return CollectionInfo{have, it->second->Stats()};
    }
    return absl::AlreadyExistsError(absl::StrCat("collection '", config.name,
                                                 "' already exists (dim ", have.dim, ", model ",
                                                 have.model_name, " v", have.model_version, ")"));
  }
  for (const FailedCollection& f : failed_) {
    if (f.name == config.name) {
      return absl::FailedPreconditionError(absl::StrCat("collection '", config.name,
                                                        "' exists on disk but failed to load (",
                                                        f.error.message(), "); drop it first"));
    }
  }
  index::CollectionOptions copts = options_.collection;
  copts.dir = CollectionDir(config.name);
  copts.num_threads = options_.num_threads;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<index::Collection> c,
                      index::Collection::Create(config, copts));
  CollectionInfo info{c->config(), c->Stats()};
  collections_[config.name] = std::move(c);
  return info;
}

absl::Status CollectionManager::DropCollection(const std::string& name) {
  LS_RETURN_IF_ERROR(ValidateName(name, options_.max_name_length));
  std::shared_ptr<index::Collection> dropped;
  {
    absl::MutexLock l(&mu_);
    auto it = collections_.find(name);
    auto failed = std::find_if(failed_.begin(), failed_.end(),
                               [&](const FailedCollection& f) { return f.name == name; });
    if (it == collections_.end() && failed == failed_.end()) {
      return absl::NotFoundError(absl::StrCat("no collection named '", name, "'"));
    }
    if (it != collections_.end()) {
      dropped = std::move(it->second);
      collections_.erase(it);
      // Its directory goes: no graph save into it (nor into a namesake
      // created later) from now on.
      dropped->Abandon();
    }
    if (failed != failed_.end()) failed_.erase(failed);
    // Rename first (atomic): a crash during the removal cannot resurrect it.
    std::string graveyard = base::JoinPath(options_.data_dir, "dropped");
    LS_RETURN_IF_ERROR(base::MakeDirs(graveyard));
    std::string target =
        base::JoinPath(graveyard, absl::StrCat(name, ".", absl::ToUnixMicros(absl::Now())));
    std::error_code ec;
    std::filesystem::rename(CollectionDir(name), target, ec);
    if (ec) {
      return absl::UnknownError(absl::StrCat("drop '", name, "': rename failed: ", ec.message()));
    }
    LS_RETURN_IF_ERROR(base::SyncDir(base::JoinPath(options_.data_dir, "collections")));
    std::filesystem::remove_all(target, ec);
  }
  return absl::OkStatus();
}

std::vector<CollectionInfo> CollectionManager::ListCollections() const {
  std::vector<std::shared_ptr<index::Collection>> all;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  for (const auto& c : all) out.push_back({c->config(), c->Stats()});
  return out;
}

absl::StatusOr<CollectionInfo> CollectionManager::GetCollection(const std::string& name) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  return CollectionInfo{c->config(), c->Stats()};
}

absl::Status CollectionManager::ValidateItems(const std::string& name, uint32_t dim,
                                              const index::ItemBatch& batch) {
  if (batch.vectors.size() != batch.metas.size() * size_t{dim}) {
    // The floats do not split into `dim` per item. Only the totals are
    // known here; SearchCore's ItemBatchFromProto names the item whose
    // length is wrong before a batch gets this far.
    return absl::InvalidArgumentError(
        absl::StrCat("the batch has ", batch.vectors.size(), " floats for ", batch.metas.size(),
                     " items; collection '", name, "' has dim ", dim));
  }
  for (size_t i = 0; i < batch.metas.size(); ++i) {
    const index::ItemMeta& m = batch.metas[i];
    std::string where = absl::StrCat("item ", i, " (id '", m.id.substr(0, 64), "')");
    if (m.id.empty() || m.id.size() > kMaxIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id has ", m.id.size(), " bytes; allowed 1..", kMaxIdBytes));
    }
    if (m.uri.size() > kMaxUriBytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": uri has ", m.uri.size(),
                                                     " bytes; allowed at most ", kMaxUriBytes));
    }
    if (m.label < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": label ", m.label, "; allowed -1 (none) or >= 0"));
    }
    LS_RETURN_IF_ERROR(
        CheckVector(batch.vectors.data() + i * dim, dim, dim, where + " vector", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<index::UpsertCounts> CollectionManager::Upsert(const std::string& name,
                                                              const index::ItemBatch& batch) {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  LS_RETURN_IF_ERROR(ValidateItems(name, c->config().dim, batch));
  return c->Upsert(batch);
}

absl::StatusOr<index::ApplyCounts> CollectionManager::ApplyVersioned(
    const std::string& name, const index::VersionedWriteBatch& batch) {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  LS_RETURN_IF_ERROR(ValidateItems(name, c->config().dim, batch.upserts));
  if (batch.upsert_versions.size() != batch.upserts.metas.size() ||
      batch.delete_versions.size() != batch.delete_ids.size()) {
    return absl::InvalidArgumentError("every versioned write needs exactly one version");
  }
  for (size_t i = 0; i < batch.delete_ids.size(); ++i) {
    const std::string& id = batch.delete_ids[i];
    if (id.empty() || id.size() > kMaxIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("delete ", i, ": id has ", id.size(), " bytes; allowed 1..", kMaxIdBytes));
    }
  }
  return c->ApplyVersioned(batch);
}

absl::StatusOr<std::vector<index::VersionedEntry>> CollectionManager::Scan(
    const std::string& name, const std::string& after_id, size_t limit, bool include_tombstones,
    bool include_vectors) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  return c->Scan(after_id, limit, include_tombstones, include_vectors);
}

absl::StatusOr<index::ReplicaSummary> CollectionManager::Summary(const std::string& name) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  return c->Summary();
}

absl::StatusOr<std::vector<std::pair<index::ItemMeta, std::vector<float>>>>
CollectionManager::GetItems(const std::string& name, const std::vector<std::string>& ids,
                            bool include_vectors) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  std::vector<std::pair<index::ItemMeta, std::vector<float>>> out;
  for (const std::string& id : ids) {
    std::optional<index::ItemMeta> meta = c->GetMeta(id);
    if (!meta) continue;
    std::vector<float> vector;
    if (include_vectors) {
      std::optional<std::vector<float>> v = c->GetVector(id);
      if (!v) continue;  // deleted between the two reads
      vector = std::move(*v);
    }
    out.emplace_back(std::move(*meta), std::move(vector));
  }
  return out;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> CollectionManager::Delete(
    const std::string& name, const std::vector<std::string>& ids) {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  LS_ASSIGN_OR_RETURN(uint64_t deleted, c->Delete(ids));
  return std::make_pair(deleted, ids.size() - deleted);
}

absl::StatusOr<ItemPage> CollectionManager::ListItems(const std::string& name, uint32_t page_size,
                                                      const std::string& page_token,
                                                      bool include_vectors) const {
  constexpr uint32_t kMaxPageSize = 10000;
  if (page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size ", page_size, " is out of range; allowed 1..", kMaxPageSize, " (0 = 1000)"));
  }
  if (page_size == 0) page_size = 1000;
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  // The collection keeps its ids ordered: a page costs O(log n + page).
  std::vector<index::VersionedEntry> entries =
      c->Scan(page_token, page_size + 1, /*include_tombstones=*/false, include_vectors);
  ItemPage page;
  const bool more = entries.size() > page_size;
  if (more) entries.pop_back();
  for (index::VersionedEntry& e : entries) {
    if (include_vectors) page.vectors.insert(page.vectors.end(), e.vector.begin(), e.vector.end());
    page.metas.push_back(std::move(e.meta));
  }
  if (more) page.next_page_token = page.metas.back().id;
  page.item_count = c->Stats().item_count;
  return page;
}

absl::Status CollectionManager::ValidateQuery(const index::Collection& c, const Query& query,
                                              const QueryOptions& options,
                                              const std::string& where) const {
  const index::CollectionConfig& config = c.config();
  if (query.item_id.empty() && query.vector.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "empty query: set a vector, an image or an item_id"));
  }
  if (query.item_id.empty()) {
    LS_RETURN_IF_ERROR(CheckVector(query.vector.data(), query.vector.size(), config.dim,
                                   where + "query vector", config.name));
  }
  if (options.k == 0 || options.k > options_.max_k) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "k ", options.k, " is out of range; allowed 1..", options_.max_k, " (--max_k)"));
  }
  if (options.ef != 0 && (options.ef < options.k || options.ef > kMaxEf)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "ef ", options.ef, " is out of range; allowed k (", options.k, ")..",
                     kMaxEf, ", or 0 for the collection's default"));
  }
  if (std::find(config.metrics.begin(), config.metrics.end(), options.metric) ==
      config.metrics.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "collection '", config.name, "' does not index metric ",
                     index::MetricName(options.metric), "; it keeps ", MetricList(config.metrics)));
  }
  if (options.hnsw && !config.hnsw) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "collection '", config.name, "' keeps no HNSW index; use the exact index"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchAnswer> CollectionManager::Search(const std::string& name, const Query& query,
                                                       const QueryOptions& options) const {
  LS_ASSIGN_OR_RETURN(std::vector<SearchAnswer> answers, SearchBatch(name, {query}, {options}));
  return std::move(answers[0]);
}

absl::StatusOr<std::vector<SearchAnswer>> CollectionManager::SearchBatch(
    const std::string& name, const std::vector<Query>& queries,
    const std::vector<QueryOptions>& options) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  if (queries.size() > options_.max_batch_queries) {
    return absl::InvalidArgumentError(
        absl::StrCat(queries.size(), " queries in one batch; allowed at most ",
                     options_.max_batch_queries, " (--max_batch_queries)"));
  }
  // Resolve and validate everything before searching anything.
  std::vector<std::vector<float>> vectors(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    QueryOptions o = options[i];
    if (o.k == 0) o.k = 10;
    std::string where = queries.size() > 1 ? absl::StrCat("query ", i, ": ") : "";
    LS_RETURN_IF_ERROR(ValidateQuery(*c, queries[i], o, where));
    if (!queries[i].item_id.empty()) {
      std::optional<std::vector<float>> v = c->GetVector(queries[i].item_id);
      if (!v.has_value()) {
        return absl::NotFoundError(
            absl::StrCat(where, "no item '", queries[i].item_id, "' in collection '", name, "'"));
      }
      vectors[i] = std::move(*v);
    } else {
      vectors[i] = queries[i].vector;
    }
  }
  std::vector<SearchAnswer> out(queries.size());
  // The common batch — same knobs for every query, no exclusions — goes
  // through the collection's batched scan.
  auto to_params = [&](size_t i) {
    index::SearchParams p;
    p.metric = options[i].metric;
    p.hnsw = options[i].hnsw;
    p.k = options[i].k == 0 ? 10 : options[i].k;
    p.ef = options[i].ef;
    p.labels = options[i].labels;
    p.include_vectors = options[i].include_vectors;
    if (queries[i].exclude_self) p.exclude_id = queries[i].item_id;
    return p;
  };
  bool uniform = queries.size() > 1;
  for (size_t i = 0; uniform && i < queries.size(); ++i) {
    const QueryOptions& a = options[i];
    const QueryOptions& b = options[0];
    uniform = !queries[i].exclude_self && a.metric == b.metric && a.hnsw == b.hnsw && a.k == b.k &&
              a.ef == b.ef && a.labels == b.labels && a.include_vectors == b.include_vectors;
  }
  if (uniform) {
    const size_t dim = c->config().dim;
    std::vector<float> flat;
    flat.reserve(queries.size() * dim);
    for (const auto& v : vectors) flat.insert(flat.end(), v.begin(), v.end());
    std::vector<index::SearchResult> results =
        c->SearchBatch(flat.data(), queries.size(), to_params(0));
    for (size_t i = 0; i < queries.size(); ++i) {
      out[i].result = std::move(results[i]);
      out[i].model_name = c->config().model_name;
      out[i].model_version = c->config().model_version;
    }
    return out;
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    out[i].result = c->Search(vectors[i].data(), to_params(i));
    out[i].model_name = c->config().model_name;
    out[i].model_version = c->config().model_version;
  }
  return out;
}

absl::StatusOr<std::vector<index::SnapshotInfoData>> CollectionManager::Snapshot(
    const std::string& name) {
  std::vector<std::shared_ptr<index::Collection>> targets;
  if (name.empty()) {
    absl::MutexLock l(&mu_);
    for (const auto& [n, c] : collections_) targets.push_back(c);
  } else {
    LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
    targets.push_back(std::move(c));
  }
  std::vector<index::SnapshotInfoData> out;
  for (const auto& c : targets) {
    LS_ASSIGN_OR_RETURN(index::SnapshotInfoData info, c->Snapshot());
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<uint32_t> CollectionManager::DimOf(const std::string& name) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  return c->config().dim;
}

absl::StatusOr<std::pair<std::string, uint64_t>> CollectionManager::ModelOf(
    const std::string& name) const {
  LS_ASSIGN_OR_RETURN(std::shared_ptr<index::Collection> c, Find(name));
  if (c->config().model_version == 0 && c->config().model_name.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", name,
                     "' was created without a model reference, so it cannot "
                     "be searched by image; search by vector or item_id"));
  }
  return std::make_pair(c->config().model_name, c->config().model_version);
}

std::vector<FailedCollection> CollectionManager::FailedCollections() const {
  absl::MutexLock l(&mu_);
  return failed_;
}

}  // namespace latentsearch::search
