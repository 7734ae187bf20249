// ReflectionService against gRPC C++'s own reflection service (grpc++_reflection, which serves
// v1alpha only) on one in-process server: to every kind of request, this service's v1 answer
// is, byte for byte, the stock v1alpha answer (the two versions' messages are the same on the
// wire, so the stock service is asked with the v1 messages). server_reflection_test runs the
// same template as v1 and as v1alpha.
#include "common/reflection_service.h"

#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include "common/reflection_plugin.h"
#include "common/testing/reflection_client.h"
#include "common/testing/reflection_test.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::AskReflection;
using ::berth::testing::ExtensionNumbersRequest;
using ::berth::testing::ExtensionRequest;
using ::berth::testing::FileRequest;
using ::berth::testing::ListServicesRequest;
using ::berth::testing::SymbolRequest;

struct ReflectionV1 {
  using Service = ::grpc::reflection::v1::ServerReflection::Service;
  using ServerReflection = ::grpc::reflection::v1::ServerReflection;
  using Request = ::grpc::reflection::v1::ServerReflectionRequest;
  using Response = ::grpc::reflection::v1::ServerReflectionResponse;
};
using Request = ReflectionV1::Request;

constexpr char kStockService[] = "grpc.reflection.v1alpha.ServerReflection";
constexpr char kGreeter[] = "berth.testing.reflection.Greeter";

class ReflectionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Links the health proto's generated code (as a daemon does), so that the generated pool
    // knows the health service.
    ASSERT_NE(grpc::health::v1::HealthCheckRequest::descriptor(), nullptr);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    auto names = std::make_shared<ServedServiceNames>();
    builder.SetOption(
        RegisterAndNameServices({std::make_shared<ReflectionService<ReflectionV1>>(
                                    google::protobuf::DescriptorPool::generated_pool(), names)},
                                names));
    builder.RegisterService(&greeter_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  // Both services' answers to `requests` on one stream each, serialized.
  void ExpectSameAnswers(const std::vector<Request>& requests) {
    berth::testing::ReflectionAnswers<ReflectionV1> ours =
        AskReflection<ReflectionV1>(channel_, requests);
    berth::testing::ReflectionAnswers<ReflectionV1> stock =
        AskReflection<ReflectionV1>(channel_, requests, kStockService);
    ASSERT_TRUE(ours.status.ok()) << ours.status.error_message();
    ASSERT_TRUE(stock.status.ok()) << stock.status.error_message();
    ASSERT_EQ(ours.responses.size(), requests.size());
    ASSERT_EQ(stock.responses.size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(ours.responses[i].SerializeAsString(), stock.responses[i].SerializeAsString())
          << "request " << requests[i].ShortDebugString()
          << "\nours:  " << ours.responses[i].ShortDebugString()
          << "\nstock: " << stock.responses[i].ShortDebugString();
    }
  }

  berth::testing::reflection::Greeter::Service greeter_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ReflectionServiceTest, AnswersEachRequestAsTheStockServiceDoes) {
  Request empty;
  Request with_host = SymbolRequest<ReflectionV1>(kGreeter);
  with_host.set_host("localhost:1234");
  const std::vector<Request> requests = {
      ListServicesRequest<ReflectionV1>(),
      SymbolRequest<ReflectionV1>(kGreeter),
      SymbolRequest<ReflectionV1>("berth.testing.reflection.Greeter.Greet"),
      SymbolRequest<ReflectionV1>("berth.testing.reflection.Greeting.Tone"),
      SymbolRequest<ReflectionV1>("berth.testing.reflection.greeting_note"),
      SymbolRequest<ReflectionV1>("grpc.health.v1.Health"),
      SymbolRequest<ReflectionV1>("grpc.reflection.v1.ServerReflection"),
      SymbolRequest<ReflectionV1>(kStockService),
      SymbolRequest<ReflectionV1>("berth.No.Such"),
      FileRequest<ReflectionV1>("common/testing/reflection_test.proto"),
      FileRequest<ReflectionV1>("google/protobuf/timestamp.proto"),
      FileRequest<ReflectionV1>("berth/none.proto"),
      ExtensionRequest<ReflectionV1>("google.protobuf.MethodOptions", 50141),
      ExtensionRequest<ReflectionV1>("google.protobuf.MethodOptions", 50143),
      ExtensionRequest<ReflectionV1>("berth.No.Such", 50141),
      ExtensionNumbersRequest<ReflectionV1>("google.protobuf.MethodOptions"),
      ExtensionNumbersRequest<ReflectionV1>("berth.testing.reflection.Greeting"),
      ExtensionNumbersRequest<ReflectionV1>("berth.No.Such"),
      empty,
      with_host,
  };
  for (const Request& request : requests) ExpectSameAnswers({request});
}

TEST_F(ReflectionServiceTest, AnswersAStreamOfRequestsAsTheStockServiceDoes) {
  // No two file answers in a row: the stock service's second one would repeat the first's
  // files, where this service's stands alone (see ReflectionService).
  ExpectSameAnswers({ListServicesRequest<ReflectionV1>(), SymbolRequest<ReflectionV1>(kGreeter),
                     SymbolRequest<ReflectionV1>("berth.No.Such"),
                     FileRequest<ReflectionV1>("google/protobuf/timestamp.proto"),
                     ExtensionNumbersRequest<ReflectionV1>("google.protobuf.MethodOptions"),
                     SymbolRequest<ReflectionV1>(kGreeter), Request()});
}

}  // namespace
}  // namespace berth::common
