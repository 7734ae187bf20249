// berthctl: a command-line client of docker-svc's berth.box.v1.Boxes, for operators and
// scripts on the host (Debian ships no grpcurl). Prints every answer as protobuf JSON.
//
//   berthctl create --app=test-box [--box_id=..] [--user_id=..] [--session_id=..]
//                   [--dpi=..] [--ttl=1h] [--env=KEY=VALUE,...] [--wait_for_ready]
//   berthctl get BOX_ID
//   berthctl list [--state=RUNNING] [--app=..] [--user_id=..]
//   berthctl stop BOX_ID [--reason=..]
//   berthctl watch
//
// Exit status: 0 on success, 1 when the call fails (its gRPC code's name and message on
// stderr; when docker-svc never answered, a line saying so and whether the call may still take
// effect), 2 on a usage error.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/status/status.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/call_metadata.h"
#include "common/grpc_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, boxes, "unix:/run/berth/boxes.sock", "docker-svc's address");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60),
          "deadline of each call but watch, including waiting for docker-svc to come up");
ABSL_FLAG(std::string, app, "", "create: the app profile; list: filter");
ABSL_FLAG(std::string, box_id, "", "create: the box id (empty: a UUID)");
ABSL_FLAG(std::string, user_id, "", "create: the box's user (empty: WAITING); list: filter");
ABSL_FLAG(std::string, session_id, "", "create: the session id");
ABSL_FLAG(uint32_t, dpi, 0, "create: the client's DPI");
ABSL_FLAG(absl::Duration, ttl, absl::ZeroDuration(), "create: stop the box after this long");
ABSL_FLAG(std::vector<std::string>, env, {}, "create: KEY=VALUE overrides the app allows");
ABSL_FLAG(bool, wait_for_ready, false, "create: answer once the box is ready");
ABSL_FLAG(std::string, state, "", "list: WAITING, ALLOCATED, CONNECTING, RUNNING or DYING");
ABSL_FLAG(std::string, reason, "", "stop: recorded in the box's final event");

namespace {

namespace v1 = berth::box::v1;

constexpr int kUsageError = 2;

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
}

// Prints a failed call. An answer without docker-svc's berth-answered-by mark was made up by
// gRPC on this side: nothing answered in time, or at all.
int Fail(const grpc::Status& status, const grpc::ClientContext& context,
         const std::string& address) {
  std::fprintf(stderr, "berthctl: %s: %s\n",
               absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str(),
               status.error_message().c_str());
  if (context.GetServerTrailingMetadata().count(berth::common::kAnsweredByMetadata) == 0) {
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::fprintf(stderr,
                   "berthctl: no answer from %s within --timeout; the call may still take "
                   "effect there\n",
                   address.c_str());
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::fprintf(stderr, "berthctl: nothing answers at %s\n", address.c_str());
    }
  }
  return 1;
}

int Fail(const grpc::Status& status, const grpc::ClientContext& context) {
  return Fail(status, context, absl::GetFlag(FLAGS_boxes));
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "berthctl: %s (see --help)\n", message.c_str());
  return kUsageError;
}

// Calls wait for docker-svc (it may be starting or restarting) until the deadline.
void SetDeadline(grpc::ClientContext& context) {
  context.set_wait_for_ready(true);
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}

int Create(v1::Boxes::Stub& stub) {
  v1::CreateRequest request;
  request.set_app(absl::GetFlag(FLAGS_app));
  request.set_box_id(absl::GetFlag(FLAGS_box_id));
  request.set_user_id(absl::GetFlag(FLAGS_user_id));
  request.set_session_id(absl::GetFlag(FLAGS_session_id));
  request.set_dpi(absl::GetFlag(FLAGS_dpi));
  request.set_wait_for_ready(absl::GetFlag(FLAGS_wait_for_ready));
  const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
  if (ttl < absl::ZeroDuration()) return Usage("--ttl must not be negative");
  absl::Duration ttl_rest;
  request.mutable_ttl()->set_seconds(absl::IDivDuration(ttl, absl::Seconds(1), &ttl_rest));
  request.mutable_ttl()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(ttl_rest)));
  for (const std::string& entry : absl::GetFlag(FLAGS_env)) {
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty()) return Usage("--env takes KEY=VALUE entries");
    (*request.mutable_env())[parts[0]] = parts[1];
  }
  v1::CreateResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  grpc::Status status = stub.Create(&context, request, &response);
  if (!status.ok()) return Fail(status, context);
  PrintJson(response);
  return 0;
}

int Get(v1::Boxes::Stub& stub, const std::string& box_id) {
  v1::GetRequest request;
  request.set_box_id(box_id);
  v1::GetResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  grpc::Status status = stub.Get(&context, request, &response);
  if (!status.ok()) return Fail(status, context);
  PrintJson(response);
  return 0;
}

int List(v1::Boxes::Stub& stub) {
  v1::ListRequest request;
  request.set_app(absl::GetFlag(FLAGS_app));
  request.set_user_id(absl::GetFlag(FLAGS_user_id));
  if (std::string state = absl::AsciiStrToUpper(absl::GetFlag(FLAGS_state)); !state.empty()) {
    v1::BoxState value;
    if (!v1::BoxState_Parse(absl::StrCat("BOX_STATE_", state), &value)) {
      return Usage(absl::StrCat("unknown --state ", state));
    }
    request.set_state(value);
  }
  v1::ListResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  grpc::Status status = stub.List(&context, request, &response);
  if (!status.ok()) return Fail(status, context);
  PrintJson(response);
  return 0;
}

int Stop(v1::Boxes::Stub& stub, const std::string& box_id) {
  v1::StopRequest request;
  request.set_box_id(box_id);
  request.set_reason(absl::GetFlag(FLAGS_reason));
  v1::StopResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  grpc::Status status = stub.Stop(&context, request, &response);
  if (!status.ok()) return Fail(status, context);
  PrintJson(response);
  return 0;
}

int Watch(grpc::Channel& channel, v1::Boxes::Stub& stub) {
  // The stream has no deadline; reaching docker-svc does (--timeout).
  if (!channel.WaitForConnected(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)))) {
    std::fprintf(stderr, "berthctl: nothing answers at %s within --timeout\n",
                 absl::GetFlag(FLAGS_boxes).c_str());
    return 1;
  }
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  std::unique_ptr<grpc::ClientReader<v1::BoxEvent>> reader =
      stub.Watch(&context, v1::WatchRequest());
  v1::BoxEvent event;
  while (reader->Read(&event)) PrintJson(event);
  grpc::Status status = reader->Finish();
  return status.ok() ? 0 : Fail(status, context);
}

// The checks an operator (or the deployment test) makes of a daemon's socket without grpcurl:
// the gRPC health service answers SERVING, and server reflection (grpc.reflection.v1, as
// current tools ask it) lists the services, one per line. 0 when both work.
int Probe(const std::string& address) {
  std::shared_ptr<grpc::Channel> channel = berth::common::NewDaemonChannel(address);
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  grpc::health::v1::HealthCheckResponse health;
  {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    grpc::Status status = grpc::health::v1::Health::NewStub(channel)->Check(
        &context, grpc::health::v1::HealthCheckRequest(), &health);
    if (!status.ok()) return Fail(status, context, address);
  }
  std::printf("health: %s\n",
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(health.status()).c_str());
  namespace reflection = ::grpc::reflection::v1;
  grpc::ClientContext context;
  context.set_deadline(deadline);
  auto stream = reflection::ServerReflection::NewStub(channel)->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  reflection::ServerReflectionResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return Fail(status, context, address);
  if (!answered || !response.has_list_services_response()) {
    std::fprintf(stderr, "berthctl: no reflection answer\n");
    return 1;
  }
  for (const auto& service : response.list_services_response().service()) {
    std::printf("service: %s\n", service.name().c_str());
  }
  return health.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "berthctl create|get BOX_ID|list|stop BOX_ID|watch [flags]: drive docker-svc;\n"
      "berthctl probe ADDRESS: a daemon's health and its services (unix:/run/berth/x.sock)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage("name a command: create, get, list, stop or watch");
  const std::string command = args[1];
  if (command == "probe" && args.size() == 3) return Probe(args[2]);
  std::shared_ptr<grpc::Channel> channel = berth::common::NewDaemonChannel(absl::GetFlag(FLAGS_boxes));
  std::unique_ptr<v1::Boxes::Stub> stub = v1::Boxes::NewStub(channel);
  if (command == "create" && args.size() == 2) return Create(*stub);
  if (command == "get" && args.size() == 3) return Get(*stub, args[2]);
  if (command == "list" && args.size() == 2) return List(*stub);
  if (command == "stop" && args.size() == 3) return Stop(*stub, args[2]);
  if (command == "watch" && args.size() == 2) return Watch(*channel, *stub);
  return Usage(absl::StrCat("bad command line for \"", command, "\""));
}
