#include "services/encoder/version_sync.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "common/base/logging.h"

namespace latentsearch::encoder {
namespace {

std::string Describe(const std::string& name, uint64_t version) {
  return absl::StrCat(name, " v", version);
}

bool Holds(const RegistrySnapshot& snapshot, const std::string& name, uint64_t version) {
  auto it = snapshot.models.find(name);
  if (it == snapshot.models.end()) return false;
  return std::any_of(
      it->second.begin(), it->second.end(),
      [version](const std::shared_ptr<Servable>& s) { return s->version() == version; });
}

// Per name, its newest `keep` versions, oldest first (installing in that
// order never evicts one of them).
std::map<std::string, std::vector<uint64_t>> Wanted(
    const std::vector<model::CheckpointMetadata>& listed, int keep) {
  std::map<std::string, std::vector<uint64_t>> out;
  for (const model::CheckpointMetadata& m : listed) out[m.model_name].push_back(m.version);
  for (auto& [name, versions] : out) {
    std::sort(versions.begin(), versions.end());
    versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
    if (versions.size() > static_cast<size_t>(keep)) {
      versions.erase(versions.begin(), versions.end() - keep);
    }
  }
  return out;
}

}  // namespace

std::string SyncReport::Summary(const std::string& source) const {
  std::string out = absl::StrCat("pulled ", pulled.size(), " version(s) from ", source);
  if (!pulled.empty()) absl::StrAppend(&out, ": ", absl::StrJoin(pulled, ", "));
  absl::StrAppend(&out, "; ", already_held, " already held");
  if (!errors.empty()) absl::StrAppend(&out, "; ", errors.size(), " failed");
  return out;
}

absl::StatusOr<std::unique_ptr<VersionSync>> VersionSync::Create(
    const VersionSyncOptions& options) {
  if (options.source == nullptr || options.registry == nullptr) {
    return absl::InvalidArgumentError("VersionSync needs a checkpoint source and a registry");
  }
  if (options.keep_versions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("VersionSync keep_versions ", options.keep_versions, ": expected >= 1"));
  }
  return std::unique_ptr<VersionSync>(new VersionSync(options));
}

VersionSync::~VersionSync() { Stop(); }

absl::StatusOr<SyncReport> VersionSync::SyncOnce(absl::Time deadline) {
  std::lock_guard<std::mutex> pass(pass_mu_);
  absl::StatusOr<SyncReport> r = Pass(deadline);
  if (options_.on_pass) options_.on_pass(r);
  return r;
}

absl::StatusOr<SyncReport> VersionSync::Pass(absl::Time deadline) {
  CheckpointSource& source = *options_.source;
  absl::StatusOr<std::vector<model::CheckpointMetadata>> listed = source.List(deadline);
  if (!listed.ok()) {
    return absl::Status(listed.status().code(),
                        absl::StrCat("listing the checkpoints of ", source.Describe(), ": ",
                                     listed.status().message()));
  }
  SyncReport report;
  for (const auto& [name, versions] : Wanted(*listed, options_.keep_versions)) {
    for (uint64_t version : versions) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return report;
      }
      if (Holds(*options_.registry->snapshot(), name, version)) {
        ++report.already_held;
        continue;
      }
      absl::StatusOr<model::Checkpoint> c = source.Fetch(name, version, deadline);
      absl::StatusOr<bool> installed = c.ok() ? Install(*std::move(c)) : c.status();
      if (!installed.ok()) {
        report.errors.push_back(
            absl::StrCat(Describe(name, version), ": ", installed.status().ToString()));
        LOG(WARNING) << "pulling " << Describe(name, version) << " from " << source.Describe()
                     << " failed: " << installed.status();
      } else if (*installed) {
        report.pulled.push_back(Describe(name, version));
      } else {
        ++report.already_held;  // A push got there first.
      }
    }
  }
  return report;
}

absl::StatusOr<bool> VersionSync::Install(model::Checkpoint checkpoint) {
  absl::Notification done;
  absl::StatusOr<PushResult> result = absl::UnknownError("not run");
  options_.registry->PushAsync(std::move(checkpoint), [&](absl::StatusOr<PushResult> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  if (!result.ok()) return result.status();
  return !result->already_present;
}

void VersionSync::Start() {
  CHECK(!thread_.joinable()) << "VersionSync started twice";
  CHECK(options_.interval > absl::ZeroDuration()) << "VersionSync interval must be > 0";
  thread_ = std::thread([this] { Loop(); });
}

void VersionSync::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void VersionSync::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
      if (stop_) return;
    }
    absl::StatusOr<SyncReport> r = SyncOnce(absl::Now() + options_.pass_timeout);
    if (!r.ok()) {
      LOG(WARNING) << "version sync: " << r.status() << "; next try in "
                   << absl::FormatDuration(options_.interval);
    } else if (!r->pulled.empty() || !r->errors.empty()) {
      LOG(INFO) << "version sync: " << r->Summary(options_.source->Describe());
    }
  }
}

}  // namespace latentsearch::encoder
