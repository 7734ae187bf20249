#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "docker-svc/engine/testing/curl_docker_client_fixture.h"
#include "docker-svc/engine/testing/fake_docker_http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// The client's event stream (StreamEvents()) against the fake engine.
namespace berth::docker {
namespace {

using ::berth::docker::testing::CannedResponse;
using ::berth::docker::testing::RecordedRequest;
using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// --- events ---------------------------------------------------------------------------------

std::string EventJson(const std::string& action, const std::string& id, int64_t time_nano) {
  return absl::StrCat(R"({"status":")", action, R"(","id":")", id,
                      R"(","from":"berth/browser:1.2","Type":"container","Action":")", action,
                      R"(","Actor":{"ID":")", id,
                      R"(","Attributes":{"berth.box_id":"box1","exitCode":"0","name":"berth-box1"}},)",
                      R"("scope":"local","time":)", time_nano / 1'000'000'000,
                      R"(,"timeNano":)", time_nano, "}");
}

class EventsTest : public testing::CurlDockerClientFixture {
 protected:
  // Collects events; stops after `stop_after` of them (0 = never).
  absl::Status Stream(size_t stop_after, Cancellation& cancel,
                      std::optional<absl::Time> since = std::nullopt) {
    return client_->StreamEvents(
        {{"type", {"container"}}, {"label", {"berth.box_id"}}}, since,
        [this, stop_after](const Event& event) {
          events_.push_back(event);
          if (!first_event_.HasBeenNotified()) first_event_.Notify();
          return stop_after == 0 || events_.size() < stop_after;
        },
        cancel);
  }

  std::vector<std::string> Actions() const {
    std::vector<std::string> actions;
    for (const Event& event : events_) actions.push_back(event.action);
    return actions;
  }

  std::vector<Event> events_;
  absl::Notification first_event_;
};

TEST_F(EventsTest, SeveralEventsInOneChunk) {
  server_->Enqueue(CannedResponse::Stream(
      {absl::StrCat(EventJson("create", "c1", 1700000000000000001), "\n",
                    EventJson("start", "c1", 1700000000000000002), "\n",
                    EventJson("die", "c1", 1700000000123456789), "\n")},
      /*end_stream=*/false));
  Cancellation cancel;
  EXPECT_OK(Stream(3, cancel));
  EXPECT_THAT(Actions(), ElementsAre("create", "start", "die"));
  EXPECT_EQ(events_[2].type, "container");
  EXPECT_EQ(events_[2].actor_id, "c1");
  EXPECT_EQ(events_[2].attributes.at("berth.box_id"), "box1");
  EXPECT_EQ(absl::ToUnixNanos(events_[2].time), 1700000000123456789);
  RecordedRequest request = OnlyRequest();
  EXPECT_EQ(request.method, "GET");
  // filters={"label":["berth.box_id"],"type":["container"]}
  EXPECT_EQ(request.target,
            "/v1.41/events?filters=%7B%22label%22%3A%5B%22berth.box_id%22%5D%2C%22type%22%3A"
            "%5B%22container%22%5D%7D");
}

TEST_F(EventsTest, OneEventSplitAcrossChunks) {
  const std::string die = EventJson("die", "c1", 1700000000123456789);
  const std::string start = EventJson("start", "c2", 1700000000000000002);
  CannedResponse response = CannedResponse::Stream(
      {die.substr(0, 10), die.substr(10, 40), absl::StrCat(die.substr(50), "\n", start.substr(0, 3)),
       absl::StrCat(start.substr(3), "\n")},
      /*end_stream=*/false);
  response.chunk_delay = absl::Milliseconds(20);
  server_->Enqueue(std::move(response));
  Cancellation cancel;
  EXPECT_OK(Stream(2, cancel));
  EXPECT_THAT(Actions(), ElementsAre("die", "start"));
  EXPECT_EQ(events_[1].actor_id, "c2");
}

TEST_F(EventsTest, SinceIsSentWithNanoseconds) {
  server_->Enqueue(CannedResponse::Stream({EventJson("die", "c1", 1), "\n"}, false));
  Cancellation cancel;
  EXPECT_OK(Stream(1, cancel, absl::FromUnixNanos(1700000000000000042)));
  EXPECT_THAT(OnlyRequest().target, HasSubstr("&since=1700000000.000000042"));
}

TEST_F(EventsTest, CallbackReturningFalseStopsTheStream) {
  server_->Enqueue(CannedResponse::Stream(
      {absl::StrCat(EventJson("create", "c1", 1), "\n", EventJson("start", "c1", 2), "\n",
                    EventJson("die", "c1", 3), "\n")},
      /*end_stream=*/false));
  Cancellation cancel;
  EXPECT_OK(Stream(2, cancel));
  EXPECT_THAT(Actions(), ElementsAre("create", "start"));
}

TEST_F(EventsTest, CancelFromAnotherThreadReturnsPromptly) {
  // One event, then an idle stream that never ends.
  server_->Enqueue(CannedResponse::Stream({EventJson("start", "c1", 1), "\n"}, false));
  Cancellation cancel;
  absl::Time cancelled_at;
  std::thread canceller([&] {
    first_event_.WaitForNotification();
    absl::SleepFor(absl::Milliseconds(50));  // let the stream go idle in its poll
    cancelled_at = absl::Now();
    cancel.Cancel();
  });
  EXPECT_OK(Stream(0, cancel));
  const absl::Time returned_at = absl::Now();
  canceller.join();
  EXPECT_THAT(Actions(), ElementsAre("start"));
  // Woken by the cancel, not by the poll's 10 s safety-net timeout.
  EXPECT_LT(returned_at - cancelled_at, absl::Seconds(5));
}

TEST_F(EventsTest, AlreadyCancelledReturnsWithoutConnecting) {
  Cancellation cancel;
  cancel.Cancel();
  EXPECT_OK(Stream(0, cancel));
  EXPECT_THAT(server_->requests(), IsEmpty());
}

TEST_F(EventsTest, EngineEndingTheStreamIsUnavailable) {
  server_->Enqueue(CannedResponse::Stream({EventJson("start", "c1", 1), "\n"}, true));
  Cancellation cancel;
  EXPECT_THAT(Stream(0, cancel),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("ended the event stream")));
  EXPECT_THAT(Actions(), ElementsAre("start"));
}

TEST_F(EventsTest, RejectedFilterKeepsDockersMessage) {
  server_->Enqueue(CannedResponse::Json(400, R"({"message":"invalid filter 'bogus'"})"));
  Cancellation cancel;
  EXPECT_THAT(Stream(0, cancel), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("watch events: invalid filter 'bogus'")));
}

TEST_F(EventsTest, MalformedEventIsInternal) {
  server_->Enqueue(CannedResponse::Stream({"{not json\n"}, false));
  Cancellation cancel;
  EXPECT_THAT(Stream(0, cancel),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("watch events: malformed event")));
}

TEST_F(EventsTest, AbsentEngineIsUnavailable) {
  CurlDockerClientConfig config = config_;
  config.socket_path = dir_.File("nobody.sock");
  ASSERT_OK_AND_ASSIGN(client_, MakeCurlDockerClient(config));
  Cancellation cancel;
  EXPECT_THAT(Stream(0, cancel),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(config.socket_path)));
}

}  // namespace
}  // namespace berth::docker
