#include "services/trainer/job_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/crc32.h"
#include "common/base/errno_status.h"
#include "common/base/file.h"
#include "common/base/little_endian.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"

namespace latentsearch::trainer {
namespace {

// Each file starts with 8 bytes of magic; the last byte is the format version.
constexpr absl::string_view kJobMagic("LSJOBR\0\1", 8);
constexpr absl::string_view kEventsMagic("LSEVTS\0\1", 8);
constexpr absl::string_view kSnapshotMagic("LSSNAP\0\1", 8);
constexpr char kJobFile[] = "job.rec";
constexpr char kEventsFile[] = "events.log";
constexpr char kSnapshotFile[] = "snapshot.bin";
// An event record: u32 length, u32 CRC-32 of the payload, payload.
constexpr size_t kRecordHeader = 8;
// Sanity bound on one event (they are a few hundred bytes).
constexpr uint32_t kMaxEventBytes = 16u << 20;

// magic, u32 CRC-32 of the payload, payload.
std::string Frame(absl::string_view magic, absl::string_view payload) {
  std::string out(magic);
  base::AppendLittleEndian<uint32_t>(base::Crc32(payload), &out);
  out.append(payload.data(), payload.size());
  return out;
}

// The payload of Frame(magic, ...); DATA_LOSS naming `path` otherwise.
absl::StatusOr<absl::string_view> Unframe(absl::string_view magic, absl::string_view bytes,
                                          const std::string& path) {
  if (bytes.size() < magic.size() + 4 || bytes.substr(0, magic.size()) != magic) {
    return absl::DataLossError(absl::StrCat("'", path, "' is not a job store file of format ",
                                            static_cast<int>(magic.back())));
  }
  const uint32_t crc = base::LoadLittleEndian<uint32_t>(bytes.data() + magic.size());
  absl::string_view payload = bytes.substr(magic.size() + 4);
  if (base::Crc32(payload) != crc) {
    return absl::DataLossError(absl::StrCat("'", path, "': checksum mismatch"));
  }
  return payload;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& dir) {
  LS_RETURN_IF_ERROR(base::MakeDirs(dir));
  return std::unique_ptr<JobStore>(new JobStore(dir));
}

JobStore::~JobStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, fd] : event_fds_) ::close(fd);
}

std::string JobStore::JobDir(const std::string& job_id) const {
  return base::JoinPath(dir_, job_id);
}

absl::StatusOr<std::vector<StoredJob>> JobStore::LoadAll() {
  std::error_code ec;
  std::vector<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.is_directory()) ids.push_back(entry.path().filename().string());
  }
  if (ec) return absl::UnknownError(absl::StrCat("listing '", dir_, "': ", ec.message()));
  std::sort(ids.begin(), ids.end());
  std::vector<StoredJob> jobs;
  for (const std::string& id : ids) {
    const std::string path = base::JoinPath(JobDir(id), kJobFile);
    absl::StatusOr<std::string> bytes = base::ReadFile(path);
    if (!bytes.ok()) {
      LOG(WARNING) << "job store: skipping '" << id << "': " << bytes.status();
      continue;
    }
    absl::StatusOr<absl::string_view> payload = Unframe(kJobMagic, *bytes, path);
    StoredJob job;
    if (!payload.ok() || !job.job.ParseFromArray(payload->data(), payload->size()) ||
        job.job.job_id() != id) {
      LOG(WARNING) << "job store: skipping '" << id << "': "
                   << (payload.ok() ? absl::DataLossError("record does not parse")
                                    : payload.status());
      continue;
    }
    LS_ASSIGN_OR_RETURN(job.events, ReadEvents(id));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::vector<v1::TrainingEvent>> JobStore::ReadEvents(const std::string& job_id) {
  const std::string path = base::JoinPath(JobDir(job_id), kEventsFile);
  std::vector<v1::TrainingEvent> events;
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (absl::IsNotFound(bytes.status())) return events;
  if (!bytes.ok()) return bytes.status();
  size_t pos = kEventsMagic.size();
  if (bytes->size() < pos || absl::string_view(*bytes).substr(0, pos) != kEventsMagic) {
    LOG(WARNING) << "job store: '" << path << "' has no valid header; its events are dropped";
    pos = 0;
  } else {
    while (pos + kRecordHeader <= bytes->size()) {
      const uint32_t len = base::LoadLittleEndian<uint32_t>(bytes->data() + pos);
      const uint32_t crc = base::LoadLittleEndian<uint32_t>(bytes->data() + pos + 4);
      if (len > kMaxEventBytes || pos + kRecordHeader + len > bytes->size()) break;
      const char* p = bytes->data() + pos + kRecordHeader;
      v1::TrainingEvent e;
      if (base::Crc32(p, len) != crc || !e.ParseFromArray(p, static_cast<int>(len))) break;
      events.push_back(std::move(e));
      pos += kRecordHeader + len;
    }
  }
  if (pos != bytes->size()) {
    LOG(WARNING) << "job store: '" << path << "': dropping a torn or corrupt tail of "
                 << bytes->size() - pos << " bytes after " << events.size() << " events";
    const std::string keep = pos == 0 ? std::string(kEventsMagic) : bytes->substr(0, pos);
    LS_RETURN_IF_ERROR(base::WriteFileAtomically(path, keep));
  }
  return events;
}

absl::Status JobStore::SaveJob(const v1::Job& job) {
  const std::string dir = JobDir(job.job_id());
  LS_RETURN_IF_ERROR(base::MakeDirs(dir));
  return base::WriteFileAtomically(base::JoinPath(dir, kJobFile),
                                   Frame(kJobMagic, job.SerializeAsString()));
}

absl::Status JobStore::AppendEvent(const std::string& job_id, const v1::TrainingEvent& event) {
  const std::string payload = event.SerializeAsString();
  std::string record;
  base::AppendLittleEndian<uint32_t>(static_cast<uint32_t>(payload.size()), &record);
  base::AppendLittleEndian<uint32_t>(base::Crc32(payload), &record);
  record += payload;
  const std::string path = base::JoinPath(JobDir(job_id), kEventsFile);
  absl::MutexLock lock(&mu_);
  auto it = event_fds_.find(job_id);
  if (it == event_fds_.end()) {
    LS_RETURN_IF_ERROR(base::MakeDirs(JobDir(job_id)));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return base::ErrnoError("open", path, errno);
    if (::lseek(fd, 0, SEEK_END) == 0) {
      if (absl::Status s = WriteAll(fd, kEventsMagic, path); !s.ok()) {
        ::close(fd);
        return s;
      }
    }
    it = event_fds_.emplace(job_id, fd).first;
  }
  return WriteAll(it->second, record, path);
}

absl::Status JobStore::SaveSnapshot(const std::string& job_id, uint64_t step,
                                    absl::string_view bytes) {
  const std::string dir = JobDir(job_id);
  LS_RETURN_IF_ERROR(base::MakeDirs(dir));
  std::string payload;
  base::AppendLittleEndian<uint64_t>(step, &payload);
  payload.append(bytes.data(), bytes.size());
  return base::WriteFileAtomically(base::JoinPath(dir, kSnapshotFile),
                                   Frame(kSnapshotMagic, payload));
}

absl::StatusOr<JobStore::Snapshot> JobStore::LoadSnapshot(const std::string& job_id) const {
  const std::string path = base::JoinPath(JobDir(job_id), kSnapshotFile);
  LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(path));
  LS_ASSIGN_OR_RETURN(absl::string_view payload, Unframe(kSnapshotMagic, bytes, path));
  if (payload.size() < 8) return absl::DataLossError(absl::StrCat("'", path, "' is truncated"));
  Snapshot s;
  s.step = base::LoadLittleEndian<uint64_t>(payload.data());
  s.bytes = std::string(payload.substr(8));
  return s;
}

}  // namespace latentsearch::trainer
