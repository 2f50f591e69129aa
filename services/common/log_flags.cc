// The definitions of --log_level and --v (see log_flags.h), alone in this
// file because glog declares a global FLAGS_v too: this file must include
// neither glog nor any header that might.
#include "services/common/log_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, log_level, "info",
          "Least severe log messages written to stderr: info, warning or error (the "
          "'listening on' lines are written whatever the level)");
ABSL_FLAG(int32_t, v, 0, "VLOG verbosity: VLOG(n) messages with n <= --v are written");

namespace latentsearch::services {

LogFlags GetLogFlags() { return {absl::GetFlag(FLAGS_log_level), absl::GetFlag(FLAGS_v)}; }

}  // namespace latentsearch::services
