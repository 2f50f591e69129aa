// --log_level and --v, the Abseil flags that stand in for glog's own
// (gflags) flags, which absl::ParseCommandLine cannot set; service_main.cc
// passes them to base::InitLogging. Binary-side code (it reads flags).
// Thread-safety: call after absl::ParseCommandLine; thread-safe then.
#ifndef LATENTSEARCH_SERVICES_COMMON_LOG_FLAGS_H_
#define LATENTSEARCH_SERVICES_COMMON_LOG_FLAGS_H_

#include <string>

namespace latentsearch::services {

struct LogFlags {
  std::string level;  // --log_level as given; base::ParseLogLevel checks it.
  int verbosity = 0;  // --v
};
LogFlags GetLogFlags();

}  // namespace latentsearch::services

#endif  // LATENTSEARCH_SERVICES_COMMON_LOG_FLAGS_H_
