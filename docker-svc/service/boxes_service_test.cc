// BoxesService's user scoping: a call carrying `berth-user` acts as that end user and sees,
// stops, configures and watches only its own boxes; backend-only calls are refused to it.
// Real gRPC (an in-process channel) over a BoxManager on fakes.
#include "docker-svc/service/boxes_service.h"

#include <memory>
#include <string>

#include "common/call_metadata.h"
#include "docker-svc/boxes/testing/box_manager_fixture.h"
#include "grpcpp/grpcpp.h"

namespace berth::docker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class BoxesServiceTest : public testing::BoxManagerFixture {
 protected:
  void SetUp() override {
    BoxManagerFixture::SetUp();
    manager_->Start();
    service_ = std::make_unique<BoxesService>(manager_.get(), &leases_,
                                              /*assignment_wait=*/absl::Milliseconds(100));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = box::v1::Boxes::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    // The backend's boxes: b1 for u1, b2 for u2.
    ASSERT_OK(manager_->CreateBox(Request("b1", "u1")).status());
    ASSERT_OK(manager_->CreateBox(Request("b2", "u2")).status());
  }

  void TearDown() override {
    server_->Shutdown();
    manager_->Shutdown();
  }

  // A call context acting for `user` (none: the backend).
  static std::unique_ptr<grpc::ClientContext> As(const std::string& user) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!user.empty()) context->AddMetadata(common::kCallerUserMetadata, user);
    return context;
  }

  grpc::Status Get(const std::string& user, const std::string& box_id) {
    box::v1::GetRequest request;
    request.set_box_id(box_id);
    box::v1::GetResponse response;
    return stub_->Get(As(user).get(), request, &response);
  }

  std::vector<std::string> ListedIds(const std::string& user,
                                     const box::v1::ListRequest& request = {}) {
    box::v1::ListResponse response;
    EXPECT_TRUE(stub_->List(As(user).get(), request, &response).ok());
    std::vector<std::string> ids;
    for (const box::v1::Box& box : response.boxes()) ids.push_back(box.box_id());
    return ids;
  }

  std::unique_ptr<BoxesService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<box::v1::Boxes::Stub> stub_;
};

TEST_F(BoxesServiceTest, TheBackendSeesEveryBox) {
  EXPECT_TRUE(Get("", "b1").ok());
  EXPECT_TRUE(Get("", "b2").ok());
  EXPECT_THAT(ListedIds(""), UnorderedElementsAre("b1", "b2"));
}

TEST_F(BoxesServiceTest, AUsersBoxOfAnotherIsNotFoundLikeOneThatDoesNotExist) {
  EXPECT_TRUE(Get("u1", "b1").ok());
  grpc::Status other = Get("u1", "b2");
  grpc::Status missing = Get("u1", "b9");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(other.error_message(), "no box b2");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "no box b9");
}

TEST_F(BoxesServiceTest, AUserListsOnlyItsOwnBoxesWhateverItsFilterSays) {
  EXPECT_THAT(ListedIds("u1"), ElementsAre("b1"));
  box::v1::ListRequest others;
  others.set_user_id("u2");
  EXPECT_THAT(ListedIds("u1", others), IsEmpty());
  EXPECT_THAT(ListedIds("u3"), IsEmpty());
}

TEST_F(BoxesServiceTest, AUserCannotStopAnothersBox) {
  box::v1::StopRequest request;
  request.set_box_id("b2");
  box::v1::StopResponse response;
  grpc::Status stopped = stub_->Stop(As("u1").get(), request, &response);
  EXPECT_EQ(stopped.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Get("", "b2").ok()) << "the other user's box still runs";
  request.set_box_id("b1");
  EXPECT_TRUE(stub_->Stop(As("u1").get(), request, &response).ok());
  EXPECT_EQ(Get("", "b1").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(BoxesServiceTest, AUserCreatesOnlyForItselfAndNeverChoosesTheBoxId) {
  box::v1::CreateRequest request;
  request.set_app("test-box");
  request.set_user_id("u2");
  box::v1::CreateResponse response;
  EXPECT_EQ(stub_->Create(As("u1").get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  request.set_user_id("");
  request.set_box_id("mine");
  EXPECT_EQ(stub_->Create(As("u1").get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_box_id("");
  ASSERT_TRUE(stub_->Create(As("u1").get(), request, &response).ok());
  EXPECT_EQ(response.box().user_id(), "u1");
  EXPECT_NE(response.box().box_id(), "");
  EXPECT_TRUE(response.box().ttl().seconds() > 0) << "a user's box gets the default TTL";
  // u1 now holds b1 and the new box: the quota of 2 is reached.
  EXPECT_EQ(stub_->Create(As("u1").get(), request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(BoxesServiceTest, BackendCallsAreRefusedToAUser) {
  box::v1::HostResponse host;
  EXPECT_EQ(stub_->Host(As("u1").get(), {}, &host).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  box::v1::AssignRequest assign;
  assign.set_app("test-box");
  assign.set_user_id("u1");
  assign.set_session_id("s1");
  box::v1::AssignResponse assigned;
  EXPECT_EQ(stub_->Assign(As("u1").get(), assign, &assigned).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  box::v1::DrainResponse drained;
  EXPECT_EQ(stub_->Drain(As("u1").get(), {}, &drained).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->Undrain(As("u1").get(), {}, &drained).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(manager_->drain_state(), box::v1::DRAIN_STATE_SERVING);
}

TEST_F(BoxesServiceTest, AUserCannotConfigureAnothersBox) {
  box::v1::SetConfigRequest request;
  request.set_box_id("b2");
  request.set_json_data("{}");
  box::v1::SetConfigResponse response;
  grpc::Status configured = stub_->SetConfig(As("u1").get(), request, &response);
  EXPECT_EQ(configured.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(configured.error_message(), "no box b2");
}

TEST_F(BoxesServiceTest, AUsersWatchShowsOnlyItsOwnBoxes) {
  auto context = As("u1");
  std::unique_ptr<grpc::ClientReader<box::v1::BoxEvent>> reader =
      stub_->Watch(context.get(), box::v1::WatchRequest());
  std::vector<std::string> snapshot;
  box::v1::BoxEvent event;
  while (reader->Read(&event) && event.kind() != box::v1::BoxEvent::KIND_SNAPSHOT_DONE) {
    snapshot.push_back(event.box().box_id());
  }
  EXPECT_THAT(snapshot, ElementsAre("b1"));
  // A change of another user's box is not shown; one of its own is.
  ASSERT_OK(manager_->StopBox("b2", "").status());
  ASSERT_OK(manager_->StopBox("b1", "").status());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.box().box_id(), "b1");
  context->TryCancel();
}

}  // namespace
}  // namespace berth::docker
