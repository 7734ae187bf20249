// allocator-svc speaks gRPC server reflection, so that `grpcurl -unix ... list` works against
// it: this test is such a client, over the reflection protocol itself.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {
namespace {

namespace reflection = ::grpc::reflection::v1alpha;
using ::testing::Contains;
using ::testing::IsSupersetOf;

class AllocatorReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    flags_.socket = dir_.File("allocator.sock");
    flags_.db = dir_.File("allocator.db");
    flags_.log_path = dir_.File("allocator.log");
    ASSERT_OK_AND_ASSIGN(daemon_, StartServingAllocator(flags_));
    stub_ = reflection::ServerReflection::NewStub(
        grpc::CreateChannel(UnixAddress(flags_.socket), grpc::InsecureChannelCredentials()));
  }

  // Sends `requests` on one reflection stream and returns the answers, one per request.
  std::vector<reflection::ServerReflectionResponse> Ask(
      const std::vector<reflection::ServerReflectionRequest>& requests) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub_->ServerReflectionInfo(&context);
    std::vector<reflection::ServerReflectionResponse> responses;
    for (const reflection::ServerReflectionRequest& request : requests) {
      if (!stream->Write(request)) break;
      reflection::ServerReflectionResponse response;
      if (!stream->Read(&response)) break;
      responses.push_back(response);
    }
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    return responses;
  }

  TempDir dir_;
  AllocatorFlags flags_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<reflection::ServerReflection::Stub> stub_;
};

TEST_F(AllocatorReflectionTest, ListsTheAllocatorAndHealthServices) {
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  std::vector<reflection::ServerReflectionResponse> responses = Ask({request});
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_TRUE(responses[0].has_list_services_response()) << responses[0].ShortDebugString();
  std::vector<std::string> names;
  for (const reflection::ServiceResponse& service :
       responses[0].list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, IsSupersetOf({"berth.allocator.v1.Allocator", "grpc.health.v1.Health"}));
}

TEST_F(AllocatorReflectionTest, DescribesTheAllocatorService) {
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol("berth.allocator.v1.Allocator");
  std::vector<reflection::ServerReflectionResponse> responses = Ask({request});
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_TRUE(responses[0].has_file_descriptor_response()) << responses[0].ShortDebugString();

  const google::protobuf::ServiceDescriptorProto* allocator = nullptr;
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (const std::string& bytes :
       responses[0].file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.push_back(file);
  }
  for (const google::protobuf::FileDescriptorProto& file : files) {
    if (file.package() != "berth.allocator.v1") continue;
    for (const google::protobuf::ServiceDescriptorProto& service : file.service()) {
      if (service.name() == "Allocator") allocator = &service;
    }
  }
  ASSERT_NE(allocator, nullptr) << "no file of package berth.allocator.v1 holds Allocator";
  std::vector<std::string> methods;
  const google::protobuf::MethodDescriptorProto* reserve = nullptr;
  for (const google::protobuf::MethodDescriptorProto& method : allocator->method()) {
    methods.push_back(method.name());
    if (method.name() == "Reserve") reserve = &method;
  }
  EXPECT_THAT(methods, IsSupersetOf({"Reserve", "Bind", "Release", "Get", "List", "Capacity",
                                     "Reconcile"}));
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->input_type(), ".berth.allocator.v1.ReserveRequest");
  EXPECT_EQ(reserve->output_type(), ".berth.allocator.v1.ReserveResponse");
}

TEST_F(AllocatorReflectionTest, DescribesTheHealthServiceAndRejectsUnknownSymbols) {
  reflection::ServerReflectionRequest health;
  health.set_file_containing_symbol("grpc.health.v1.Health");
  reflection::ServerReflectionRequest unknown;
  unknown.set_file_containing_symbol("berth.nothing.v1.Nothing");
  std::vector<reflection::ServerReflectionResponse> responses = Ask({health, unknown});
  ASSERT_EQ(responses.size(), 2u);
  ASSERT_TRUE(responses[0].has_file_descriptor_response()) << responses[0].ShortDebugString();
  std::vector<std::string> packages;
  for (const std::string& bytes :
       responses[0].file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    packages.push_back(file.package());
  }
  EXPECT_THAT(packages, Contains("grpc.health.v1"));
  ASSERT_TRUE(responses[1].has_error_response()) << responses[1].ShortDebugString();
  EXPECT_EQ(responses[1].error_response().error_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

}  // namespace
}  // namespace berth::testing
