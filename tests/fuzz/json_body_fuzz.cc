// Fuzz target: JSON request bodies into protos (gateway/routing/json_body: MergeJsonObject, the
// syntax check before protobuf's parser, the error that names the refused field). Input: one
// byte choosing the request type, then the body.
//
// Properties: every refusal is INVALID_ARGUMENT with one of the messages json_body.h lists;
// an accepted body's message survives the round trip JSON -> proto -> JSON -> proto (Berth's
// printer, then MergeJsonObject again) and the printer agrees with protobuf's on it
// (proto_checks.h).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "berth/box/v1/box.pb.h"
#include "gateway/routing/json_body.h"
#include "gateway/routing/json_printer.h"
#include "gateway/routing/testdata/json_printer_test.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/proto_checks.h"

namespace {

using ::google::protobuf::Message;

// The beginnings of the refusals json_body.h documents.
bool IsDocumentedRefusal(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return false;
  const absl::string_view message = status.message();
  return absl::StartsWith(message, "malformed JSON body at line ") ||
         message == "the JSON body must be an object" ||
         absl::StartsWith(message, "unknown field \"") ||
         absl::StartsWith(message, "JSON body field \"") ||
         absl::StartsWith(message, "invalid JSON body: ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The test message has every field kind; the others are bodies the gateway's routes take.
  static const Message* const kTypes[] = {
      &berth::gateway::routing::test::Everything::default_instance(),
      &berth::box::v1::CreateRequest::default_instance(),
      &berth::box::v1::AssignRequest::default_instance(),
      &berth::box::v1::SetConfigRequest::default_instance(),
      &berth::box::v1::StopRequest::default_instance(),
      &berth::box::v1::ListRequest::default_instance(),
      &berth::allocator::v1::ReserveRequest::default_instance(),
      &berth::allocator::v1::ReconcileRequest::default_instance(),
  };
  absl::string_view body = berth::fuzz::AsText(data, size);
  const uint8_t selector = berth::fuzz::TakeSelector(body);
  const Message& type = *kTypes[selector % (sizeof(kTypes) / sizeof(kTypes[0]))];

  std::unique_ptr<Message> message(type.New());
  const absl::Status merged = berth::gateway::routing::MergeJsonObject(body, *message);
  if (!merged.ok()) {
    FUZZ_CHECK(IsDocumentedRefusal(merged), merged.ToString());
    return 0;
  }
  berth::fuzz::CheckPrinter(*message);

  std::string printed;
  if (!berth::gateway::routing::AppendJson(*message, printed).ok()) {
    // A well-known type Berth's printer leaves to protobuf's (what it appended is unspecified),
    // or a time out of JSON's range.
    printed.clear();
    if (!google::protobuf::util::MessageToJsonString(*message, &printed).ok()) return 0;
  }
  std::unique_ptr<Message> again(type.New());
  const absl::Status reparsed = berth::gateway::routing::MergeJsonObject(printed, *again);
  FUZZ_CHECK(reparsed.ok(), absl::StrCat(reparsed.ToString(), "\n", printed));
  FUZZ_CHECK(berth::fuzz::SameMessage(*message, *again),
             absl::StrCat(printed, "\n", message->ShortDebugString(), "\n",
                          again->ShortDebugString()));
  return 0;
}
