#include "common/reflection_plugin.h"

#include <utility>

#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include "absl/status/status.h"

namespace berth::common {
namespace {

// Registers the services in InitServer (ServerBuilder::BuildAndStart calls it once the server
// exists) and reads the server's list of services in Finish, at the end of BuildAndStart, when
// every service (the health service too) is registered.
class Plugin final : public grpc::ServerBuilderPlugin {
 public:
  Plugin(std::vector<std::shared_ptr<grpc::Service>> services,
         std::shared_ptr<ServedServiceNames> names)
      : services_(std::move(services)), names_(std::move(names)) {}

  std::string name() override { return "berth_server_reflection"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    // The initializer keeps the services alive as long as the server. A service whose name is
    // taken already is not registered (gRPC logs it).
    for (const std::shared_ptr<grpc::Service>& service : services_) {
      initializer->RegisterService(service);
    }
  }
  void Finish(grpc::ServerInitializer* initializer) override {
    names_->Set(*initializer->GetServiceList());
  }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}
  bool has_sync_methods() const override { return !services_.empty(); }

 private:
  const std::vector<std::shared_ptr<grpc::Service>> services_;
  const std::shared_ptr<ServedServiceNames> names_;
};

class Option final : public grpc::ServerBuilderOption {
 public:
  Option(std::vector<std::shared_ptr<grpc::Service>> services,
         std::shared_ptr<ServedServiceNames> names)
      : services_(std::move(services)), names_(std::move(names)) {}

  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<Plugin>(services_, names_));
  }

 private:
  const std::vector<std::shared_ptr<grpc::Service>> services_;
  const std::shared_ptr<ServedServiceNames> names_;
};

}  // namespace

void ServedServiceNames::Set(std::vector<std::string> names) {
  absl::MutexLock lock(&mu_);
  names_ = std::move(names);
}

absl::StatusOr<std::vector<std::string>> ServedServiceNames::Get() const {
  absl::MutexLock lock(&mu_);
  if (!names_.has_value()) return absl::NotFoundError("Services not found.");
  return *names_;
}

std::unique_ptr<grpc::ServerBuilderOption> RegisterAndNameServices(
    std::vector<std::shared_ptr<grpc::Service>> services,
    std::shared_ptr<ServedServiceNames> names) {
  return std::make_unique<Option>(std::move(services), std::move(names));
}

}  // namespace berth::common
