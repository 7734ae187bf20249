// Fuzz target: Berth's JSON printer (gateway/routing/json_printer), against protobuf's own as
// its differential unit test does, on messages the fuzzer builds. Input: one byte choosing the
// message type, then the message in protobuf's binary encoding (a message that does not parse
// is skipped; unknown fields are dropped, as neither printer prints them).
//
// Properties (proto_checks.h): both printers refuse the same messages; they print the same
// bytes when the text is ASCII and each map has at most one entry; Berth's output parses back to
// the same message when its strings are valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "berth/allocator/v1/allocator.pb.h"
#include "berth/box/v1/box.pb.h"
#include "gateway/routing/testdata/json_printer_test.pb.h"
#include "google/protobuf/message.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/proto_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The test message has every field kind; the others are what the gateway prints.
  static const google::protobuf::Message* const kTypes[] = {
      &berth::gateway::routing::test::Everything::default_instance(),
      &berth::box::v1::BoxEvent::default_instance(),
      &berth::box::v1::ListResponse::default_instance(),
      &berth::box::v1::HostResponse::default_instance(),
      &berth::box::v1::AssignResponse::default_instance(),
      &berth::allocator::v1::CapacityResponse::default_instance(),
      &berth::allocator::v1::ListResponse::default_instance(),
  };
  absl::string_view text = berth::fuzz::AsText(data, size);
  const uint8_t selector = berth::fuzz::TakeSelector(text);
  std::unique_ptr<google::protobuf::Message> message(
      kTypes[selector % (sizeof(kTypes) / sizeof(kTypes[0]))]->New());
  if (!message->ParseFromArray(text.data(), static_cast<int>(text.size()))) return 0;
  message->DiscardUnknownFields();
  berth::fuzz::CheckPrinter(*message);
  return 0;
}
