// The trainer's jobs on disk, so that they survive a restart: under
// <dir>/<job id>/ each job has
//   job.rec       the v1::Job record (magic, format version, CRC-32, the
//                 serialized message), replaced atomically (temp + fsync +
//                 rename + directory fsync, common/base/file.h);
//   events.log    its TrainingEvents, appended one framed record at a time
//                 (length, CRC-32, the serialized event) with one write(2)
//                 each: the kernel keeps it when the process is killed
//                 (kill -9); a torn or corrupt tail (power loss mid-append)
//                 is dropped, and cut off the file, when it is read back;
//   snapshot.bin  the newest training snapshot (training.h: weights,
//                 optimiser state, step, position in the data order),
//                 replaced atomically, with magic and CRC-32.
// Events are not fsynced one by one (a step event every 200 ms would cost a
// disk flush each); records and snapshots are.
//
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_JOB_STORE_H_
#define LATENTSEARCH_SERVICES_TRAINER_JOB_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "latentsearch/v1/trainer.pb.h"

namespace latentsearch::trainer {

// One job as read back: its record and every event that reached the log.
struct StoredJob {
  v1::Job job;
  std::vector<v1::TrainingEvent> events;
};

class JobStore {
 public:
  // Creates `dir` if needed. UNKNOWN/PERMISSION_DENIED naming the path.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& dir);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Every job with a readable record, in job id order. A job whose record
  // is corrupt is skipped with a WARNING naming it (never half-loaded).
  absl::StatusOr<std::vector<StoredJob>> LoadAll();

  // Replaces the job's record atomically.
  absl::Status SaveJob(const v1::Job& job);
  // Appends one event to the job's log.
  absl::Status AppendEvent(const std::string& job_id, const v1::TrainingEvent& event);
  // Replaces the job's snapshot atomically; `step` is recorded beside it.
  absl::Status SaveSnapshot(const std::string& job_id, uint64_t step, absl::string_view bytes);
  // The newest snapshot and its step. NOT_FOUND when the job has none;
  // DATA_LOSS when it does not check out.
  struct Snapshot {
    uint64_t step = 0;
    std::string bytes;
  };
  absl::StatusOr<Snapshot> LoadSnapshot(const std::string& job_id) const;

 private:
  explicit JobStore(std::string dir) : dir_(std::move(dir)) {}
  std::string JobDir(const std::string& job_id) const;
  // Reads events.log, cutting off a torn tail.
  absl::StatusOr<std::vector<v1::TrainingEvent>> ReadEvents(const std::string& job_id);

  const std::string dir_;
  absl::Mutex mu_;
  // Open append descriptors of events.log, by job id.
  std::map<std::string, int> event_fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_JOB_STORE_H_
