// `latentsearch train`, `watch`, `stop` and `jobs`: start a training job on
// the trainer and follow it with a live one-line progress display on stderr
// (epoch, step/total, loss, img/s, ETA, and the last epoch's validation loss
// and k-NN precision@10 when the trainer measures it); epoch summaries,
// checkpoints and pushes are printed as lines on stdout. `watch JOB`
// re-attaches (the job's history is replayed first). Ctrl-C (SIGINT) while
// following detaches: the job keeps running on the trainer (the CLI says so
// and how to re-attach or stop it).
#ifndef LATENTSEARCH_CLIENTS_CLI_TRAIN_H_
#define LATENTSEARCH_CLIENTS_CLI_TRAIN_H_

#include <atomic>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "latentsearch/v1/trainer.pb.h"

namespace latentsearch::cli {

struct FollowResult {
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;  // last state seen
  bool detached = false;                           // stopped following on request
  v1::ModelRef last_checkpoint;                    // version 0 when none
  v1::ModelRef last_pushed;                        // last accepted push
  std::string message;                             // of the last state event
};

// Follows `job_id` (WatchTraining with history) until the job ends or
// `*detach` becomes true. Progress goes to `err` (live when `live`),
// event lines to `out` (or one JSON object per event when `json`).
absl::StatusOr<FollowResult> FollowJob(const Endpoint& trainer, const std::string& job_id,
                                       std::ostream& out, std::ostream& err, bool live, bool json,
                                       const std::atomic<bool>* detach);

// The job `latentsearch train` starts, from its flags (--dataset, --path,
// --architecture, --objective, --min_crop_scale, ...). INVALID_ARGUMENT for
// a flag value the CLI itself can tell is wrong (an unknown --optimizer,
// --lr_schedule, --objective or --checkpoint); ranges are the trainer's.
absl::StatusOr<v1::TrainingConfig> TrainingConfigFromFlags();

// "running", "succeeded", ...
std::string JobStateLabel(v1::JobState state);

Command TrainCommand();
Command WatchCommand();
Command StopCommand();
// `latentsearch resume JOB`: ResumeTraining, then follows the job like train.
Command ResumeCommand();
Command JobsCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_TRAIN_H_
