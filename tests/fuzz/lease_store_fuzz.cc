// Fuzz target: allocator-svc's state file as it is read back at start (allocator-svc/
// lease_store: Open and Load; then Allocator::Create taking the leases in). The rows are what
// the fuzzer writes into a fresh state file behind the store's back, any value in any column
// (SQLite's columns take any type). Input: lines, one row each:
//   L <box_id> <state> <tty> <gpu_index> <container_id> <reserved_at_us> <bound_at_us> <request>
//   P <protocol> <host_port> <box_id> <position> <container_port>
//   R <pool> <value> <release_seq>
// A field that is an integer is written as one, "-" as NULL, anything else as text; <request>
// is hex (a serialized ReserveRequest, or not) written as a blob.
//
// Properties: Open and Load refuse a file they cannot trust (or take it), Allocator::Create
// refuses leases that contradict each other, and neither crashes; once taken in, no TTY, GPU
// slot or host port is held by two leases, and a new Reserve is given none of theirs.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "allocator-svc/allocator.h"
#include "allocator-svc/host_ports.h"
#include "allocator-svc/lease_store.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "common/testing/fake_clock.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace v1 = ::berth::allocator::v1;

// Every port is free: the host's own ports are not what is fuzzed.
class NoPortInUse final : public berth::allocator::HostPortProbe {
 public:
  bool InUse(v1::Protocol, uint16_t) override { return false; }
};

// A state file path in a directory of this process's own, on tmpfs when there is one (each
// input writes a fresh file, and the store syncs every commit).
const std::string& StatePath() {
  static const std::string* const path = [] {
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm/berth-fuzz-XXXXXX"
                                                    : "/tmp/berth-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir.data()) != nullptr, dir);
    return new std::string(dir + "/allocator.db");
  }();
  return *path;
}

void RemoveStateFile() {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    unlink((StatePath() + suffix).c_str());
  }
}

// Binds one field: an integer, NULL for "-", else text (a blob when `blob`, from hex).
void BindField(sqlite3_stmt* statement, int index, absl::string_view field, bool blob) {
  int64_t number = 0;
  if (field == "-") {
    sqlite3_bind_null(statement, index);
  } else if (blob) {
    const std::string bytes = absl::HexStringToBytes(field);
    sqlite3_bind_blob(statement, index, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
  } else if (absl::SimpleAtoi(field, &number)) {
    sqlite3_bind_int64(statement, index, number);
  } else {
    sqlite3_bind_text(statement, index, field.data(), static_cast<int>(field.size()),
                      SQLITE_TRANSIENT);
  }
}

// Writes the input's rows into the state file, each row in its own statement (a row the
// schema's constraints refuse is left out).
void WriteRows(absl::string_view text) {
  sqlite3* db = nullptr;
  if (sqlite3_open(StatePath().c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  const std::map<absl::string_view, std::pair<const char*, int>> kinds = {
      {"L", {"INSERT INTO leases VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", 8}},
      {"P", {"INSERT INTO lease_ports VALUES (?1, ?2, ?3, ?4, ?5)", 5}},
      {"R", {"INSERT INTO released_values VALUES (?1, ?2, ?3)", 3}},
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    auto kind = kinds.find(fields[0]);
    if (kind == kinds.end()) continue;
    const auto [sql, count] = kind->second;
    fields.resize(count + 1, "-");
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) break;
    for (int i = 1; i <= count; ++i) {
      BindField(statement, i, fields[i], fields[0] == "L" && i == 8);
    }
    sqlite3_step(statement);
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
}

// The values a lease holds alone, as "tty:N" and "PROTOCOL_TCP:N" (a GPU is shared by up to
// boxes_per_gpu boxes: not one of them).
std::vector<std::string> HeldValues(const v1::Lease& lease) {
  std::vector<std::string> held;
  if (lease.tty() > 0) held.push_back(absl::StrCat("tty:", lease.tty()));
  for (const v1::PortBinding& port : lease.ports()) {
    held.push_back(absl::StrCat(v1::Protocol_Name(port.protocol()), ":", port.host_port()));
  }
  return held;
}

void CheckTakenIn(berth::allocator::Allocator& allocator) {
  const absl::StatusOr<v1::ListResponse> listed = allocator.List(v1::ListRequest());
  FUZZ_CHECK(listed.ok(), listed.status().ToString());
  std::set<std::string> held;
  for (const v1::Lease& lease : listed->leases()) {
    for (const std::string& value : HeldValues(lease)) {
      FUZZ_CHECK(held.insert(value).second, absl::StrCat(value, " held twice"));
    }
  }
  v1::ReserveRequest request;
  request.set_box_id("fuzz-new-box");
  request.set_tty(true);
  request.add_ports()->set_container_port(1);
  request.add_ports()->set_container_port(2);
  request.mutable_ports(1)->set_protocol(v1::PROTOCOL_UDP);
  request.mutable_ports(0)->set_protocol(v1::PROTOCOL_TCP);
  std::vector<berth::allocator::Mutation> changes;
  const absl::StatusOr<v1::ReserveResponse> reserved = allocator.Reserve(request, &changes);
  if (!reserved.ok() || !reserved->created()) return;
  for (const std::string& value : HeldValues(reserved->lease())) {
    FUZZ_CHECK(held.count(value) == 0, absl::StrCat(value, " handed out again"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RemoveStateFile();
  {  // A fresh state file with the store's own schema.
    absl::StatusOr<std::unique_ptr<berth::allocator::LeaseStore>> fresh =
        berth::allocator::LeaseStore::Open(StatePath());
    FUZZ_CHECK(fresh.ok(), fresh.status().ToString());
  }
  WriteRows(berth::fuzz::AsText(data, size));

  absl::StatusOr<std::unique_ptr<berth::allocator::LeaseStore>> store =
      berth::allocator::LeaseStore::Open(StatePath());
  if (!store.ok()) return 0;
  absl::StatusOr<berth::allocator::StoredState> stored = (*store)->Load();
  if (!stored.ok()) return 0;
  berth::allocator::AllocatorConfig config;
  config.ttys = {10, 20};
  config.ports = {20000, 20016};
  config.gpus = {0, 1};
  config.max_boxes = 16;
  static berth::testing::FakeClock* const clock = new berth::testing::FakeClock();
  NoPortInUse probe;
  absl::StatusOr<std::unique_ptr<berth::allocator::Allocator>> allocator =
      berth::allocator::Allocator::Create(config, *stored, clock, &probe);
  if (!allocator.ok()) return 0;
  CheckTakenIn(**allocator);
  return 0;
}
