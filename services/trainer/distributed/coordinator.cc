#include "services/trainer/distributed/coordinator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "services/trainer/distributed/rendezvous.h"

namespace latentsearch::trainer::distributed {

struct Coordinator::Impl {
  std::unique_ptr<Rendezvous> rendezvous;
  std::unique_ptr<GlooCollective> group;  // nullptr = none formed.
  int64_t generation = 0;                 // The one open or formed.
  int64_t next_job = 1;                   // Announcement number in it.
};

Coordinator::Coordinator(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)),
      world_size_(impl_->rendezvous->config().world_size),
      port_(impl_->rendezvous->port()) {}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(const GroupConfig& config) {
  if (config.rank != 0) return absl::InvalidArgumentError("the coordinator is rank 0");
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<std::unique_ptr<Rendezvous>> r = Rendezvous::Connect(config);
  if (!r.ok()) return r.status();
  impl->rendezvous = *std::move(r);
  impl->generation = impl->rendezvous->OpenGeneration();
  absl::StatusOr<std::unique_ptr<GlooCollective>> g = impl->rendezvous->Form(impl->generation);
  if (!g.ok()) return g.status();
  impl->group = *std::move(g);
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

Coordinator::~Coordinator() {
  absl::MutexLock lock(&mu_);
  impl_->rendezvous->AnnounceShutdown();
  impl_->group.reset();
}

int Coordinator::port() const { return port_; }
int Coordinator::world_size() const { return world_size_; }

absl::StatusOr<Collective*> Coordinator::StartJob(const std::string& job_id,
                                                  const v1::TrainingConfig& config) {
  absl::MutexLock lock(&mu_);
  Impl& m = *impl_;
  try {
    if (m.group && m.rendezvous->RejoinRequested()) {
      LOG(WARNING) << "a rank was restarted since the group formed: forming it again";
      m.group.reset();
      m.generation = m.rendezvous->OpenGeneration();
    }
    if (!m.group) {
      absl::StatusOr<std::unique_ptr<GlooCollective>> g = m.rendezvous->Form(m.generation);
      if (!g.ok()) {
        m.generation = m.rendezvous->OpenGeneration();  // The next attempt starts afresh.
        return absl::Status(g.status().code(),
                            absl::StrCat("the group of ", world_size_,
                                         " ranks is not complete: ", g.status().message()));
      }
      m.group = *std::move(g);
      m.next_job = 1;
    }
    const std::string announcement = absl::StrCat(job_id, "\n", config.SerializeAsString());
    m.rendezvous->store().set(Rendezvous::Key(m.generation, absl::StrCat("job/", m.next_job++)),
                              std::vector<uint8_t>(announcement.begin(), announcement.end()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("the group's store failed: ", e.what()));
  }
  return m.group.get();
}

void Coordinator::EndJob(const absl::Status& result) {
  absl::MutexLock lock(&mu_);
  Impl& m = *impl_;
  if (m.group && m.group->broken()) {
    LOG(WARNING) << "the job broke the group (" << result
                 << "); restarted ranks join a new generation";
    m.group.reset();
    try {
      m.generation = m.rendezvous->OpenGeneration();
    } catch (const std::exception& e) {
      LOG(WARNING) << "cannot open a new generation: " << e.what();
    }
  }
}

}  // namespace latentsearch::trainer::distributed
