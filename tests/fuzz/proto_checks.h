#ifndef BERTH_TESTS_FUZZ_PROTO_CHECKS_H_
#define BERTH_TESTS_FUZZ_PROTO_CHECKS_H_

// What the JSON fuzz targets check of a message: that Berth's JSON printer agrees with
// protobuf's, and that what it prints parses back to the same message.

#include <string>

#include "google/protobuf/message.h"

namespace berth::fuzz {

// `a` and `b` hold the same values; NaN equals NaN (JSON's "NaN" parses back to a NaN).
bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b);

// Whether protobuf's printer and Berth's must print `message` byte for byte alike: every string
// (map keys included) is ASCII and every map has at most one entry (protobuf prints maps in
// hash order).
bool PrintersMustAgree(const google::protobuf::Message& message);

// Checks the printer on `message`: Berth's AppendJson equals protobuf's MessageToJsonString
// where PrintersMustAgree, and its output parses back (protobuf's parser) to a message that is
// the same when every string is valid UTF-8. Aborts (a finding) when either does not hold.
// Messages holding well-known types AppendJson leaves to protobuf are skipped.
void CheckPrinter(const google::protobuf::Message& message);

}  // namespace berth::fuzz

#endif  // BERTH_TESTS_FUZZ_PROTO_CHECKS_H_
