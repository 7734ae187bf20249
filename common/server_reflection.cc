#include "common/server_reflection.h"

#include <memory>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "common/reflection_plugin.h"
#include "common/reflection_service.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace berth::common {
namespace {

struct ReflectionV1 {
  using Service = ::grpc::reflection::v1::ServerReflection::Service;
  using Request = ::grpc::reflection::v1::ServerReflectionRequest;
  using Response = ::grpc::reflection::v1::ServerReflectionResponse;
};

struct ReflectionV1Alpha {
  using Service = ::grpc::reflection::v1alpha::ServerReflection::Service;
  using Request = ::grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = ::grpc::reflection::v1alpha::ServerReflectionResponse;
};

}  // namespace

void AddServerReflection(grpc::ServerBuilder& builder) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  auto names = std::make_shared<ServedServiceNames>();
  std::vector<std::shared_ptr<grpc::Service>> services = {
      std::make_shared<ReflectionService<ReflectionV1>>(pool, names),
      std::make_shared<ReflectionService<ReflectionV1Alpha>>(pool, names)};
  builder.SetOption(RegisterAndNameServices(std::move(services), std::move(names)));
}

}  // namespace berth::common
