#ifndef BERTH_COMMON_REFLECTION_PLUGIN_H_
#define BERTH_COMMON_REFLECTION_PLUGIN_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/service_type.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace berth::common {

// The full names of the services a gRPC server serves ("grpc.health.v1.Health", ...), as
// server reflection lists them. They are known once the server is built. Thread-safe.
class ServedServiceNames {
 public:
  void Set(std::vector<std::string> names) ABSL_LOCKS_EXCLUDED(mu_);
  // The names; NOT_FOUND ("Services not found.") before Set.
  absl::StatusOr<std::vector<std::string>> Get() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::optional<std::vector<std::string>> names_ ABSL_GUARDED_BY(mu_);
};

// A ServerBuilder option (ServerBuilder::SetOption) that registers `services` (synchronous
// ones) on the server the builder builds, next to the builder's own, and, once that server is
// built, Sets `names` to the names of all the services it serves: `services`, the builder's and
// the default health service (when on). The builder must build one server only (the services
// and `names` belong to it).
std::unique_ptr<grpc::ServerBuilderOption> RegisterAndNameServices(
    std::vector<std::shared_ptr<grpc::Service>> services,
    std::shared_ptr<ServedServiceNames> names);

}  // namespace berth::common

#endif  // BERTH_COMMON_REFLECTION_PLUGIN_H_
