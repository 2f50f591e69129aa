#include "services/gateway/eval_jobs.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/eval/eval_result.h"
#include "common/items/image_resolver.h"
#include "common/rpc/status_util.h"
#include "google/protobuf/util/json_util.h"
#include "services/gateway/backends.h"
#include "services/gateway/thumbnails.h"

namespace latentsearch::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

Value Num(double v) {
  Value x;
  x.set_number_value(v);
  return x;
}
Value Str(const std::string& v) {
  Value x;
  x.set_string_value(v);
  return x;
}

Struct RowStruct(const eval::EvalRow& row) {
  Struct s;
  auto& f = *s.mutable_fields();
  f["source"] = Str(row.source);
  f["metric"] = Str(eval::MetricLabel(row.metric));
  f["indexKind"] = Str(eval::IndexKindLabel(row.index_kind));
  f["precisionAtK"] = Num(row.precision_at_k);
  f["precisionAtKIncludingSelf"] = Num(row.precision_at_k_including_self);
  f["map"] = Num(row.map);
  if (row.recall_vs_exact) f["recallVsExact"] = Num(*row.recall_vs_exact);
  f["exactFallbacks"] = Num(static_cast<double>(row.exact_fallbacks));
  return s;
}

Struct ResultStruct(const eval::EvalResult& r) {
  Struct s;
  auto& f = *s.mutable_fields();
  f["collection"] = Str(r.collection);
  f["queryCollection"] = Str(r.query_collection);
  f["model"] = Str(absl::StrCat(r.model.name(), " v", r.model.version()));
  f["items"] = Num(static_cast<double>(r.items));
  f["dim"] = Num(r.dim);
  f["queries"] = Num(r.num_queries);
  f["k"] = Num(r.k);
  f["mapDepth"] = Num(r.map_depth);
  f["seconds"] = Num(r.seconds);
  f["baselineNote"] = Str(r.baseline_note);
  auto* rows = f["rows"].mutable_list_value();
  for (const eval::EvalRow& row : r.rows)
    *rows->add_values()->mutable_struct_value() = RowStruct(row);
  return s;
}

absl::Status WrongType(const std::string& key, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat("eval option '", key, "' must be ", want));
}

absl::Status EnumList(const Value& v, const std::string& key,
                      const google::protobuf::EnumDescriptor* type, std::vector<int>* out) {
  if (!v.has_list_value()) return WrongType(key, "a list of names");
  for (const Value& e : v.list_value().values()) {
    const auto* value = type->FindValueByName(e.string_value());
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("eval option '", key, "': '", e.string_value(),
                                                     "' is not a ", type->name(), " name"));
    }
    out->push_back(value->number());
  }
  return absl::OkStatus();
}

absl::Status SetOption(const std::string& key, const Value& v, eval::EvalOptions* o) {
  const bool num = v.kind_case() == Value::kNumberValue;
  if (key == "collection" || key == "queryCollection") {
    if (v.kind_case() != Value::kStringValue) return WrongType(key, "a string");
    (key == "collection" ? o->collection : o->query_collection) = v.string_value();
  } else if (key == "queries" || key == "k" || key == "mapDepth" || key == "ef" || key == "seed") {
    if (!num) return WrongType(key, "a number");
    const double x = v.number_value();
    if (key == "queries") o->num_queries = static_cast<int>(x);
    if (key == "k") o->k = static_cast<int>(x);
    if (key == "mapDepth") o->map_depth = static_cast<int>(x);
    if (key == "ef") o->ef = static_cast<uint32_t>(x);
    if (key == "seed") o->seed = static_cast<uint64_t>(x);
  } else if (key == "baseline") {
    if (v.kind_case() != Value::kBoolValue) return WrongType(key, "true or false");
    o->baseline = v.bool_value();
  } else if (key == "metrics" || key == "indexKinds") {
    std::vector<int> values;
    const auto* type = key == "metrics" ? v1::Metric_descriptor() : v1::IndexKind_descriptor();
    if (absl::Status s = EnumList(v, key, type, &values); !s.ok()) return s;
    for (int x : values) {
      if (key == "metrics")
        o->metrics.push_back(static_cast<v1::Metric>(x));
      else
        o->index_kinds.push_back(static_cast<v1::IndexKind>(x));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown eval option '", key,
        "'; allowed: collection, queryCollection, queries, seed, k, mapDepth, metrics, "
        "indexKinds, ef, baseline"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<eval::EvalOptions> EvalOptionsFromJson(const std::string& body) {
  Struct parsed;
  if (!body.empty()) {
    auto status = google::protobuf::util::JsonStringToMessage(body, &parsed);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the eval options are not a JSON object: ", std::string(status.message())));
    }
  }
  eval::EvalOptions options;
  options.num_queries = 200;
  options.wait_for_index_seconds = 60;
  for (const auto& [key, value] : parsed.fields()) {
    if (absl::Status s = SetOption(key, value, &options); !s.ok()) return s;
  }
  if (options.collection.empty()) {
    return absl::InvalidArgumentError("eval option 'collection' is required");
  }
  if (absl::Status s = eval::CheckEvalOptions(options); !s.ok()) return s;
  return options;
}

absl::StatusOr<v1::CollectionInfo> GrpcEvalBackend::GetCollection(const std::string& name) {
  v1::GetCollectionRequest request;
  request.set_name(name);
  v1::CollectionInfo info;
  grpc::ClientContext context;
  backends_->SetDeadline(&context);
  grpc::Status s = backends_->search()->GetCollection(&context, request, &info);
  if (!s.ok()) return rpc::FromGrpcStatus(s);
  return info;
}

absl::StatusOr<std::vector<v1::Item>> GrpcEvalBackend::ListAllItems(const std::string& name,
                                                                    bool include_vectors) {
  std::vector<v1::Item> items;
  v1::ListItemsRequest request;
  request.set_collection(name);
  request.set_page_size(5000);
  request.set_include_vectors(include_vectors);
  do {
    v1::ListItemsResponse page;
    grpc::ClientContext context;
    backends_->SetDeadline(&context);
    grpc::Status s = backends_->search()->ListItems(&context, request, &page);
    if (!s.ok()) return rpc::FromGrpcStatus(s);
    for (v1::Item& item : *page.mutable_items()) items.push_back(std::move(item));
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return items;
}

absl::Status GrpcEvalBackend::WaitForIndexes(const std::string& name, double max_seconds) {
  const absl::Time until = absl::Now() + absl::Seconds(max_seconds);
  while (true) {
    absl::StatusOr<v1::CollectionInfo> info = GetCollection(name);
    if (!info.ok()) return info.status();
    bool building = false;
    for (const v1::IndexStats& index : info->indexes()) {
      building |= index.state() == v1::INDEX_STATE_BUILDING;
    }
    if (!building || absl::Now() >= until) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(200));  // a production wait, not a test's
  }
}

absl::StatusOr<v1::SearchBatchResponse> GrpcEvalBackend::SearchBatch(
    const v1::SearchBatchRequest& request) {
  v1::SearchBatchResponse response;
  grpc::ClientContext context;
  backends_->SetDeadline(&context);
  grpc::Status s = backends_->search()->SearchBatch(&context, request, &response);
  if (!s.ok()) return rpc::FromGrpcStatus(s);
  return response;
}

struct EvalJobs::Job {
  std::string id;
  eval::EvalOptions options;
  absl::Time started;
  // Guarded by EvalJobs::mu_:
  std::string state = "RUNNING";
  std::string progress;
  std::string error;
  std::string baseline_note;
  std::optional<eval::EvalResult> result;
};

EvalJobs::~EvalJobs() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

absl::StatusOr<std::string> EvalJobs::Start(eval::EvalOptions options) {
  absl::MutexLock l(&mu_);
  if (running_) {
    return absl::UnavailableError(absl::StrCat("an evaluation (", jobs_.front()->id,
                                               ") is running; one runs at a time: retry when it "
                                               "ends"));
  }
  auto job = std::make_shared<Job>();
  char id[32];
  std::snprintf(id, sizeof(id), "eval-%06d", next_id_++);
  job->id = id;
  job->options = std::move(options);
  job->started = absl::Now();
  jobs_.push_front(job);
  if (jobs_.size() > kKeptJobs) jobs_.pop_back();
  running_ = true;
  threads_.emplace_back([this, job] { Run(job); });
  return job->id;
}

void EvalJobs::Run(std::shared_ptr<Job> job) {
  GrpcEvalBackend backend(backends_);
  eval::EvalOptions options = job->options;
  options.progress = [this, job](const std::string& line) {
    absl::MutexLock l(&mu_);
    job->progress = line;
  };
  std::string note;
  if (options.baseline) {
    absl::StatusOr<std::vector<v1::Item>> items = backend.ListAllItems(options.collection, false);
    for (size_t i = 0; items.ok() && i < items->size() && note.empty(); ++i) {
      absl::Status allowed = images_->CheckUri((*items)[i].uri());
      if (!allowed.ok()) {
        note = absl::StrCat("skipped: item ", (*items)[i].id(), ": ", allowed.message());
      }
    }
    if (!note.empty()) options.baseline = false;
  }
  items::ImageResolver resolver;
  absl::StatusOr<eval::EvalResult> result =
      eval::RunEval(backend, options, options.baseline ? &resolver : nullptr);
  if (!result.ok()) LOG(WARNING) << "eval " << job->id << " failed: " << result.status();
  absl::MutexLock l(&mu_);
  running_ = false;
  if (result.ok()) {
    if (!note.empty()) result->baseline_note = note;
    job->result = *std::move(result);
    job->state = "SUCCEEDED";
  } else {
    job->error = result.status().ToString();
    job->state = "FAILED";
  }
}

Struct EvalJobs::ToStruct(const Job& job) {
  Struct s;
  auto& f = *s.mutable_fields();
  f["id"] = Str(job.id);
  f["state"] = Str(job.state);
  f["collection"] = Str(job.options.collection);
  f["progress"] = Str(job.progress);
  f["error"] = Str(job.error);
  f["startedAt"] = Str(absl::FormatTime(absl::RFC3339_sec, job.started, absl::UTCTimeZone()));
  if (job.result) *f["result"].mutable_struct_value() = ResultStruct(*job.result);
  return s;
}

absl::StatusOr<Struct> EvalJobs::Get(const std::string& id) const {
  absl::MutexLock l(&mu_);
  for (const auto& job : jobs_) {
    if (job->id == id) return ToStruct(*job);
  }
  return absl::NotFoundError(absl::StrCat("no evaluation '", id, "' (the gateway keeps the newest ",
                                          kKeptJobs, ", in memory)"));
}

Struct EvalJobs::List() const {
  absl::MutexLock l(&mu_);
  Struct s;
  auto* list = (*s.mutable_fields())["evals"].mutable_list_value();
  for (const auto& job : jobs_) *list->add_values()->mutable_struct_value() = ToStruct(*job);
  return s;
}

}  // namespace latentsearch::gateway
