// Every daemon's socket speaks gRPC server reflection in both versions of the protocol:
// grpc.reflection.v1, which current tools (grpcurl) ask first, and grpc.reflection.v1alpha,
// which older ones ask, with the same answers. This test is such a client of each real
// daemon, over the reflection protocol itself.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "common/testing/reflection_client.h"
#include "common/testing/reflection_protocols.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "testing_support/box_host.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {
namespace {

using ::testing::IsSupersetOf;

// What a daemon serves: its own service (or the health service, for a daemon without one) and
// some of that service's methods.
struct Served {
  std::string service;
  std::vector<std::string> methods;
};

const Served kAllocator = {"berth.allocator.v1.Allocator",
                           {"Reserve", "Bind", "Release", "Get", "List", "Capacity", "Reconcile"}};
const Served kBoxes = {
    "berth.box.v1.Boxes",
    {"Create", "Get", "List", "Stop", "Watch", "Host", "Assign", "SetConfig", "Drain", "Undrain"}};
const Served kHealth = {"grpc.health.v1.Health", {"Check", "Watch"}};

constexpr char kUnknownSymbol[] = "berth.nothing.v1.Nothing";

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// Over `Protocol`: the daemon lists its service, the health service and both reflection
// services; describes its service with files enough to rebuild it (as grpcurl does); and says
// NOT_FOUND for a symbol it does not know.
template <typename Protocol>
void ExpectReflection(const std::string& address, const Served& served) {
  SCOPED_TRACE(Protocol::ServerReflection::service_full_name());
  std::shared_ptr<grpc::Channel> channel = ChannelTo(address);
  ReflectionAnswers<Protocol> answers = AskReflection<Protocol>(
      channel, {ListServicesRequest<Protocol>(), SymbolRequest<Protocol>(served.service),
                SymbolRequest<Protocol>(kUnknownSymbol)});
  ASSERT_TRUE(answers.status.ok()) << answers.status.error_message();
  ASSERT_EQ(answers.responses.size(), 3u);
  const typename Protocol::Response& list = answers.responses[0];
  const typename Protocol::Response& described = answers.responses[1];
  const typename Protocol::Response& unknown = answers.responses[2];

  ASSERT_TRUE(list.has_list_services_response()) << list.ShortDebugString();
  const std::set<std::string> expected = {served.service, "grpc.health.v1.Health",
                                          "grpc.reflection.v1.ServerReflection",
                                          "grpc.reflection.v1alpha.ServerReflection"};
  EXPECT_THAT(ListedServices(list), IsSupersetOf(expected));

  ASSERT_TRUE(described.has_file_descriptor_response()) << described.ShortDebugString();
  std::vector<google::protobuf::FileDescriptorProto> files = AnsweredFiles(described);
  ASSERT_EQ(files.size(),
            static_cast<size_t>(described.file_descriptor_response().file_descriptor_proto_size()))
      << "a file does not parse";
  google::protobuf::DescriptorPool pool;  // Nothing but what the answer brings.
  ASSERT_TRUE(BuildFiles(files, pool)) << "files: " << ::testing::PrintToString(FileNames(files));
  const google::protobuf::ServiceDescriptor* service = pool.FindServiceByName(served.service);
  ASSERT_NE(service, nullptr);
  std::vector<std::string> methods;
  for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i)->name());
  EXPECT_THAT(methods, IsSupersetOf(served.methods));
  EXPECT_NE(service->method(0)->input_type(), nullptr);

  ASSERT_TRUE(unknown.has_error_response()) << unknown.ShortDebugString();
  EXPECT_EQ(unknown.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

// v1alpha's answers are v1's, byte for byte (the messages are the same on the wire).
void ExpectSameAnswersInBothVersions(const std::string& address, const Served& served) {
  std::shared_ptr<grpc::Channel> channel = ChannelTo(address);
  const std::vector<ReflectionV1::Request> requests = {ListServicesRequest<ReflectionV1>(),
                                                       SymbolRequest<ReflectionV1>(served.service),
                                                       SymbolRequest<ReflectionV1>(kUnknownSymbol)};
  ReflectionAnswers<ReflectionV1> v1 = AskReflection<ReflectionV1>(channel, requests);
  ReflectionAnswers<ReflectionV1> v1alpha = AskReflection<ReflectionV1>(
      channel, requests, ReflectionV1Alpha::ServerReflection::service_full_name());
  ASSERT_TRUE(v1.status.ok()) << v1.status.error_message();
  ASSERT_TRUE(v1alpha.status.ok()) << v1alpha.status.error_message();
  ASSERT_EQ(v1.responses.size(), requests.size());
  ASSERT_EQ(v1alpha.responses.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(v1.responses[i].SerializeAsString(), v1alpha.responses[i].SerializeAsString())
        << requests[i].ShortDebugString();
  }
}

void ExpectBothVersions(const std::string& address, const Served& served) {
  ExpectReflection<ReflectionV1>(address, served);
  ExpectReflection<ReflectionV1Alpha>(address, served);
  ExpectSameAnswersInBothVersions(address, served);
  if (served.service != kHealth.service) ExpectReflection<ReflectionV1>(address, kHealth);
}

TEST(DaemonReflectionTest, AllocatorSvcServesBothVersions) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags;
  flags.socket = dir.File("allocator.sock");
  flags.db = dir.File("allocator.db");
  flags.log_path = dir.File("allocator.log");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> allocator, StartServingAllocator(flags));
  ExpectBothVersions(UnixAddress(flags.socket), kAllocator);
}

// Needs dockerd (scripts/start-dockerd.sh): docker-svc serves only once it has reconciled with
// the engine.
TEST(DaemonReflectionTest, DockerSvcServesBothVersions) {
  BoxHost host;
  ASSERT_OK(host.ok());
  ASSERT_OK(host.Start()) << host.LogTails();
  ExpectBothVersions(host.boxes_address(), kBoxes);
}

// The agent serves its socket (health and reflection only) while its database is out of reach.
TEST(DaemonReflectionTest, FleetAgentServesBothVersions) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string address = "unix:" + dir.File("fleet.sock");
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<DaemonProcess> agent,
      DaemonProcess::Start({DaemonBinary("fleet-agent"),
                            {"--listen=" + address, "--boxes=unix:" + dir.File("boxes.sock"),
                             "--database=host=" + dir.path() + " dbname=berth user=berth",
                             "--host_id=reflection-test", "--address=127.0.0.1:4678"},
                            {},
                            dir.File("fleet-agent.log")}));
  ASSERT_OK(agent->WaitServing(address, absl::Seconds(30)));
  ExpectBothVersions(address, kHealth);
}

}  // namespace
}  // namespace berth::testing
