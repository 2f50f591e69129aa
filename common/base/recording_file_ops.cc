// RecordingFileOps (see recording_file_ops.h).
#include "common/base/recording_file_ops.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace latentsearch::base {

// Records each call on the file, then forwards it. Thread-compatible.
class RecordingFileOps::File final : public WritableFile {
 public:
  File(RecordingFileOps* owner, std::string path, std::unique_ptr<WritableFile> target)
      : owner_(owner), path_(std::move(path)), target_(std::move(target)) {}

  absl::Status Append(absl::string_view data) override {
    absl::Status s = owner_->Record("append", "append " + path_);
    return s.ok() ? target_->Append(data) : s;
  }
  absl::Status Sync() override {
    absl::Status s = owner_->Record("sync", "sync " + path_);
    return s.ok() ? target_->Sync() : s;
  }
  absl::Status Close() override {
    absl::Status s = owner_->Record("close", "close " + path_);
    absl::Status closed = target_->Close();  // always release the descriptor
    return s.ok() ? closed : s;
  }

 private:
  RecordingFileOps* const owner_;
  const std::string path_;
  std::unique_ptr<WritableFile> target_;
};

void RecordingFileOps::FailOn(absl::string_view op, absl::Status status) {
  std::lock_guard<std::mutex> l(mu_);
  fail_[std::string(op)] = std::move(status);
}

std::vector<std::string> RecordingFileOps::events() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_;
}

absl::Status RecordingFileOps::Record(absl::string_view op, const std::string& event) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = fail_.find(std::string(op));
  if (it == fail_.end()) {
    events_.push_back(event);
    return absl::OkStatus();
  }
  absl::Status s = std::move(it->second);
  fail_.erase(it);
  events_.push_back(event + " (failed)");
  return s;
}

absl::StatusOr<std::unique_ptr<WritableFile>> RecordingFileOps::Create(const std::string& path) {
  absl::Status s = Record("create", "create " + path);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<WritableFile>> file = target_->Create(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(new File(this, path, std::move(*file)));
}

absl::Status RecordingFileOps::Rename(const std::string& from, const std::string& to) {
  absl::Status s = Record("rename", absl::StrCat("rename ", from, " ", to));
  return s.ok() ? target_->Rename(from, to) : s;
}

absl::Status RecordingFileOps::Remove(const std::string& path) {
  absl::Status s = Record("remove", "remove " + path);
  return s.ok() ? target_->Remove(path) : s;
}

absl::Status RecordingFileOps::SyncDir(const std::string& dir) {
  absl::Status s = Record("syncdir", "syncdir " + dir);
  return s.ok() ? target_->SyncDir(dir) : s;
}

}  // namespace latentsearch::base
