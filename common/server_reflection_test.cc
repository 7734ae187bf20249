// AddServerReflection: both versions of the reflection protocol on a real (in-process) gRPC
// server, each test run over grpc.reflection.v1 and over grpc.reflection.v1alpha.
#include "common/server_reflection.h"

#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include "common/testing/reflection_client.h"
#include "common/testing/reflection_protocols.h"
#include "common/testing/reflection_test.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::AnsweredFiles;
using ::berth::testing::AskReflection;
using ::berth::testing::AskReflectionOnce;
using ::berth::testing::BuildFiles;
using ::berth::testing::FileNames;
using ::berth::testing::ListedServices;
using ::berth::testing::ReflectionV1;
using ::berth::testing::ReflectionV1Alpha;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kTestFile[] = "common/testing/reflection_test.proto";
constexpr char kTypesFile[] = "common/testing/reflection_test_types.proto";
constexpr char kTimestampFile[] = "google/protobuf/timestamp.proto";
constexpr char kDescriptorFile[] = "google/protobuf/descriptor.proto";
constexpr char kGreeter[] = "berth.testing.reflection.Greeter";

template <typename Protocol>
class ServerReflectionTest : public ::testing::Test {
 protected:
  using Request = typename Protocol::Request;
  using Response = typename Protocol::Response;

  void SetUp() override {
    // Links the health proto's generated code (as a daemon does, calling the health service),
    // so that the generated pool knows the health service.
    ASSERT_NE(grpc::health::v1::HealthCheckRequest::descriptor(), nullptr);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    AddServerReflection(builder);
    builder.RegisterService(&greeter_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  Response Ask(const Request& request) { return AskReflectionOnce<Protocol>(channel_, request); }
  // The names of the files of the answer to `request`, in the answer's order.
  std::vector<std::string> FilesAnswering(const Request& request) {
    Response response = Ask(request);
    EXPECT_TRUE(response.has_file_descriptor_response()) << response.ShortDebugString();
    return FileNames(AnsweredFiles(response));
  }
  // The error of the answer to `request` as "CODE: message".
  std::string ErrorAnswering(const Request& request) {
    Response response = Ask(request);
    EXPECT_TRUE(response.has_error_response()) << response.ShortDebugString();
    return std::to_string(response.error_response().error_code()) + ": " +
           response.error_response().error_message();
  }

  berth::testing::reflection::Greeter::Service greeter_;  // Every method UNIMPLEMENTED.
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

using Protocols = ::testing::Types<ReflectionV1, ReflectionV1Alpha>;
TYPED_TEST_SUITE(ServerReflectionTest, Protocols);

// "5: ..." is NOT_FOUND, "12: " UNIMPLEMENTED.
std::string NotFound(const std::string& message) { return "5: " + message; }

TYPED_TEST(ServerReflectionTest, ListsEveryServiceOfTheServer) {
  typename TestFixture::Response response =
      this->Ask(berth::testing::ListServicesRequest<TypeParam>());
  ASSERT_TRUE(response.has_list_services_response()) << response.ShortDebugString();
  EXPECT_THAT(
      ListedServices(response),
      UnorderedElementsAre(kGreeter, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                           "grpc.reflection.v1alpha.ServerReflection"));
}

TYPED_TEST(ServerReflectionTest, ASymbolsFileComesWithEveryFileItImportsEachOnce) {
  // reflection_test.proto imports the types file (which imports timestamp.proto), then
  // descriptor.proto, then timestamp.proto again: depth first, each once.
  EXPECT_THAT(this->FilesAnswering(berth::testing::SymbolRequest<TypeParam>(kGreeter)),
              ElementsAre(kTestFile, kTypesFile, kTimestampFile, kDescriptorFile));
  EXPECT_THAT(this->FilesAnswering(berth::testing::FileRequest<TypeParam>(kTypesFile)),
              ElementsAre(kTypesFile, kTimestampFile));
  EXPECT_THAT(this->FilesAnswering(berth::testing::FileRequest<TypeParam>(kTimestampFile)),
              ElementsAre(kTimestampFile));
}

TYPED_TEST(ServerReflectionTest, TheAnswerIsEnoughToRebuildTheServiceAndItsOptions) {
  typename TestFixture::Response response =
      this->Ask(berth::testing::SymbolRequest<TypeParam>(kGreeter));
  google::protobuf::DescriptorPool pool;  // Nothing but what the answer brings.
  ASSERT_TRUE(BuildFiles(AnsweredFiles(response), pool));
  const google::protobuf::ServiceDescriptor* greeter = pool.FindServiceByName(kGreeter);
  ASSERT_NE(greeter, nullptr);
  ASSERT_EQ(greeter->method_count(), 2);
  EXPECT_EQ(greeter->method(0)->name(), "Greet");
  EXPECT_EQ(greeter->method(0)->input_type()->full_name(), "berth.testing.reflection.Greeting");
  EXPECT_EQ(greeter->method(1)->name(), "GreetAt");
  EXPECT_EQ(greeter->method(1)->input_type()->field(0)->message_type()->full_name(),
            "google.protobuf.Timestamp");
  // The option is kept, as an extension the rebuilt pool knows.
  const google::protobuf::FieldDescriptor* note =
      pool.FindExtensionByName("berth.testing.reflection.greeting_note");
  ASSERT_NE(note, nullptr);
  google::protobuf::MethodOptions options;
  options.CopyFrom(greeter->method(0)->options());
  EXPECT_NE(options.DebugString().find("said once"), std::string::npos) << options.DebugString();
}

TYPED_TEST(ServerReflectionTest, EveryKindOfSymbolIsFoundInItsFile) {
  for (const char* symbol :
       {"berth.testing.reflection.Greeter.Greet", "berth.testing.reflection.GreetAtRequest",
        "berth.testing.reflection.GreetAtRequest.at", "berth.testing.reflection.greeting_note"}) {
    std::vector<std::string> files =
        this->FilesAnswering(berth::testing::SymbolRequest<TypeParam>(symbol));
    ASSERT_FALSE(files.empty()) << symbol;
    EXPECT_EQ(files[0], kTestFile) << symbol;
  }
  for (const char* symbol :
       {"berth.testing.reflection.Greeting", "berth.testing.reflection.Greeting.Tone",
        "berth.testing.reflection.Greeting.TONE_WARM"}) {
    EXPECT_THAT(this->FilesAnswering(berth::testing::SymbolRequest<TypeParam>(symbol)),
                ElementsAre(kTypesFile, kTimestampFile))
        << symbol;
  }
  // The protocol's own services and the health service are described too.
  std::vector<std::string> reflection = this->FilesAnswering(
      berth::testing::SymbolRequest<TypeParam>("grpc.reflection.v1.ServerReflection"));
  EXPECT_THAT(reflection, ElementsAre("grpc/reflection/v1/reflection.proto"));
  std::vector<std::string> health =
      this->FilesAnswering(berth::testing::SymbolRequest<TypeParam>("grpc.health.v1.Health"));
  EXPECT_THAT(health, ElementsAre("grpc/health/v1/health.proto"));
}

TYPED_TEST(ServerReflectionTest, FindsExtensionsByNumberAndListsThem) {
  EXPECT_THAT(this->FilesAnswering(berth::testing::ExtensionRequest<TypeParam>(
                  "google.protobuf.MethodOptions", 50142)),
              ElementsAre(kTestFile, kTypesFile, kTimestampFile, kDescriptorFile));
  typename TestFixture::Response numbers = this->Ask(
      berth::testing::ExtensionNumbersRequest<TypeParam>("google.protobuf.MethodOptions"));
  ASSERT_TRUE(numbers.has_all_extension_numbers_response()) << numbers.ShortDebugString();
  EXPECT_EQ(numbers.all_extension_numbers_response().base_type_name(),
            "google.protobuf.MethodOptions");
  // berth.api.http (berth::protos, linked for the health proto) extends it too.
  EXPECT_THAT(numbers.all_extension_numbers_response().extension_number(),
              ::testing::IsSupersetOf({50141, 50142}));
  typename TestFixture::Response none = this->Ask(
      berth::testing::ExtensionNumbersRequest<TypeParam>("berth.testing.reflection.Greeting"));
  ASSERT_TRUE(none.has_all_extension_numbers_response()) << none.ShortDebugString();
  EXPECT_THAT(none.all_extension_numbers_response().extension_number(), IsEmpty());
}

TYPED_TEST(ServerReflectionTest, WhatThePoolDoesNotKnowIsNotFound) {
  EXPECT_EQ(this->ErrorAnswering(berth::testing::SymbolRequest<TypeParam>("berth.No.Such")),
            NotFound("Symbol not found."));
  EXPECT_EQ(this->ErrorAnswering(berth::testing::FileRequest<TypeParam>("berth/none.proto")),
            NotFound("File not found."));
  EXPECT_EQ(this->ErrorAnswering(berth::testing::ExtensionRequest<TypeParam>(
                "google.protobuf.MethodOptions", 50143)),
            NotFound("Extension not found."));
  EXPECT_EQ(
      this->ErrorAnswering(berth::testing::ExtensionRequest<TypeParam>("berth.No.Such", 50141)),
      NotFound("Type not found."));
  EXPECT_EQ(this->ErrorAnswering(berth::testing::ExtensionNumbersRequest<TypeParam>("No.Such")),
            NotFound("Type not found."));
  EXPECT_EQ(this->ErrorAnswering(typename TestFixture::Request()), "12: ");
}

TYPED_TEST(ServerReflectionTest, EachAnswerOnAStreamStandsAloneAndEchoesItsRequest) {
  using Asked = typename TypeParam::Request;
  Asked greeter = berth::testing::SymbolRequest<TypeParam>(kGreeter);
  greeter.set_host("first");
  Asked unknown = berth::testing::SymbolRequest<TypeParam>("berth.No.Such");
  Asked types = berth::testing::FileRequest<TypeParam>(kTypesFile);
  types.set_host("third");
  Asked list = berth::testing::ListServicesRequest<TypeParam>();
  berth::testing::ReflectionAnswers<TypeParam> answers =
      AskReflection<TypeParam>(this->channel_, {greeter, unknown, greeter, types, list});
  ASSERT_TRUE(answers.status.ok()) << answers.status.error_message();
  ASSERT_EQ(answers.responses.size(), 5u);
  // The same files again (the answer does not rely on the earlier one), then only its own.
  EXPECT_THAT(FileNames(AnsweredFiles(answers.responses[0])),
              ElementsAre(kTestFile, kTypesFile, kTimestampFile, kDescriptorFile));
  EXPECT_TRUE(answers.responses[1].has_error_response());
  EXPECT_THAT(FileNames(AnsweredFiles(answers.responses[2])),
              ElementsAre(kTestFile, kTypesFile, kTimestampFile, kDescriptorFile));
  EXPECT_THAT(FileNames(AnsweredFiles(answers.responses[3])),
              ElementsAre(kTypesFile, kTimestampFile));
  EXPECT_EQ(ListedServices(answers.responses[4]).size(), 4u);
  const std::vector<Asked> sent = {greeter, unknown, greeter, types, list};
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(answers.responses[i].valid_host(), sent[i].host()) << i;
    EXPECT_EQ(answers.responses[i].original_request().SerializeAsString(),
              sent[i].SerializeAsString())
        << i;
  }
}

}  // namespace
}  // namespace berth::common
