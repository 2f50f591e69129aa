// A FileOps for tests: forwards to another FileOps (the real one by default)
// and records every call, in order, as one line ("create <path>",
// "append <path>", "sync <path>", "close <path>", "rename <from> <to>",
// "remove <path>", "syncdir <dir>"); FailOn makes the next call of one kind
// fail without forwarding it.
//
//   RecordingFileOps ops;
//   ops.FailOn("sync", absl::UnknownError("disk gone"));
//   EXPECT_FALSE(index->Save(path, &ops).ok());
//   EXPECT_THAT(ops.events(), Not(Contains(StartsWith("rename"))));
//
// Thread-safety: thread-safe (one mutex over the log and the failures).
#ifndef LATENTSEARCH_COMMON_BASE_RECORDING_FILE_OPS_H_
#define LATENTSEARCH_COMMON_BASE_RECORDING_FILE_OPS_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/base/file_ops.h"

namespace latentsearch::base {

class RecordingFileOps final : public FileOps {
 public:
  // `target` must outlive this object.
  explicit RecordingFileOps(FileOps* target = &DefaultFileOps()) : target_(target) {}

  // The next call of kind `op` ("create", "append", "sync", "close",
  // "rename", "remove", "syncdir") returns `status` instead of running; it is
  // still recorded, with " (failed)" appended.
  void FailOn(absl::string_view op, absl::Status status);

  // Every call so far, in order.
  std::vector<std::string> events() const;

  absl::StatusOr<std::unique_ptr<WritableFile>> Create(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;

 private:
  class File;
  // Records `event`; returns the injected failure for `op`, if any.
  absl::Status Record(absl::string_view op, const std::string& event);

  FileOps* const target_;
  mutable std::mutex mu_;
  std::vector<std::string> events_;           // guarded by mu_
  std::map<std::string, absl::Status> fail_;  // guarded by mu_
};

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_RECORDING_FILE_OPS_H_
