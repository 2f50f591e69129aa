#include "common/cluster/placement_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace latentsearch::cluster {
namespace {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

absl::Status FromJson(const std::string& json, const std::string& key,
                      google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // records written by newer versions
  auto status = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("etcd record ", key, " does not parse: ", status.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PlacementToJson(const v1::CollectionPlacement& placement) { return ToJson(placement); }

absl::StatusOr<v1::CollectionPlacement> PlacementFromJson(const std::string& json,
                                                          const std::string& key) {
  v1::CollectionPlacement placement;
  LS_RETURN_IF_ERROR(FromJson(json, key, &placement));
  return placement;
}

absl::StatusOr<std::vector<StoredPlacement>> PlacementStore::ReadPlacements() {
  LS_ASSIGN_OR_RETURN(std::vector<KeyValue> kvs, etcd_->GetPrefix(kCollectionsPrefix));
  std::vector<StoredPlacement> out;
  for (const KeyValue& kv : kvs) {
    absl::StatusOr<v1::CollectionPlacement> p = PlacementFromJson(kv.value, kv.key);
    if (!p.ok()) {
      LOG(WARNING) << p.status();
      continue;
    }
    out.push_back({*std::move(p), kv.mod_revision});
  }
  return out;
}

absl::StatusOr<StoredPlacement> PlacementStore::ReadPlacement(const std::string& name) {
  const std::string key = absl::StrCat(kCollectionsPrefix, name);
  LS_ASSIGN_OR_RETURN(std::optional<KeyValue> kv, etcd_->Get(key));
  if (!kv.has_value()) {
    return absl::NotFoundError(absl::StrCat("no collection named '", name, "'"));
  }
  LS_ASSIGN_OR_RETURN(v1::CollectionPlacement p, PlacementFromJson(kv->value, key));
  return StoredPlacement{std::move(p), kv->mod_revision};
}

absl::StatusOr<std::vector<v1::NodeRecord>> PlacementStore::ReadNodes() {
  LS_ASSIGN_OR_RETURN(std::vector<KeyValue> kvs, etcd_->GetPrefix(kNodesPrefix));
  std::vector<v1::NodeRecord> out;
  for (const KeyValue& kv : kvs) {
    v1::NodeRecord node;
    if (absl::Status s = FromJson(kv.value, kv.key, &node); !s.ok()) {
      LOG(WARNING) << s;
      continue;
    }
    out.push_back(std::move(node));
  }
  return out;
}

absl::Status PlacementStore::RegisterNode(const v1::NodeRecord& node) {
  return etcd_->CreateIfAbsent(absl::StrCat(kNodesPrefix, node.address()), ToJson(node), nullptr)
      .status();
}

absl::StatusOr<bool> PlacementStore::Create(const v1::CollectionPlacement& placement,
                                            StoredPlacement* existing) {
  const std::string key = absl::StrCat(kCollectionsPrefix, placement.spec().name());
  KeyValue kv;
  LS_ASSIGN_OR_RETURN(bool created, etcd_->CreateIfAbsent(key, ToJson(placement), &kv));
  if (!created && existing != nullptr) {
    LS_ASSIGN_OR_RETURN(existing->placement, PlacementFromJson(kv.value, key));
    existing->mod_revision = kv.mod_revision;
  }
  return created;
}

absl::StatusOr<bool> PlacementStore::Update(const v1::CollectionPlacement& placement,
                                            int64_t mod_revision) {
  return etcd_->CompareAndSwap(absl::StrCat(kCollectionsPrefix, placement.spec().name()),
                               ToJson(placement), mod_revision);
}

absl::StatusOr<bool> PlacementStore::Remove(const std::string& name, int64_t mod_revision) {
  return etcd_->CompareAndDelete(absl::StrCat(kCollectionsPrefix, name), mod_revision);
}

}  // namespace latentsearch::cluster
