#ifndef BERTH_ALLOCATOR_SVC_LEASE_STORE_H_
#define BERTH_ALLOCATOR_SVC_LEASE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "allocator-svc/lease_record.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::allocator {

// The allocator's durable state: a SQLite file in WAL mode, fsynced on every commit
// (synchronous=FULL), held exclusively by one process for its whole life.
//
// The schema is versioned (PRAGMA user_version). Open() creates a missing file, and refuses
// to start on anything it cannot trust rather than start empty:
//   FAILED_PRECONDITION  a schema version this build does not know, or a SQLite file that is
//                        not a Berth state file, or a file another process holds;
//   DATA_LOSS            a file that is not a database or cannot be read.
// Once open, a write that fails because the file system is full (ENOSPC, or EDQUOT) is
// RESOURCE_EXHAUSTED "the state disk is full: <path> (...)": nothing of it was written, the
// store is as it was and may be written again once there is space. Any other failed write is
// UNAVAILABLE (or DATA_LOSS); the store must then not be trusted further.
// Not thread-safe: one thread at a time.
class LeaseStore {
 public:
  static constexpr int kSchemaVersion = 1;

  static absl::StatusOr<std::unique_ptr<LeaseStore>> Open(const std::string& path);
  ~LeaseStore();
  LeaseStore(const LeaseStore&) = delete;
  LeaseStore& operator=(const LeaseStore&) = delete;

  // Every lease (with the request that made it) and the recorded release order.
  absl::StatusOr<StoredState> Load();

  // Applies `mutations`, in order, in one transaction; durable when it returns OK. On error
  // nothing of the batch is applied.
  absl::Status Apply(const std::vector<const Mutation*>& mutations);

  // A durable write that changes nothing (a commit with its fsync): OK when a change could be
  // committed now, RESOURCE_EXHAUSTED while the disk is full.
  absl::Status ProbeWrite();

  const std::string& path() const { return path_; }

 private:
  LeaseStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Prepare();
  absl::Status ApplyOne(const Mutation& mutation);
  absl::Status Error(const std::string& context) const;

  std::string path_;
  sqlite3* db_;
  sqlite3_stmt* insert_lease_ = nullptr;
  sqlite3_stmt* insert_port_ = nullptr;
  sqlite3_stmt* update_lease_ = nullptr;
  sqlite3_stmt* delete_ports_ = nullptr;
  sqlite3_stmt* delete_lease_ = nullptr;
  sqlite3_stmt* upsert_released_ = nullptr;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_LEASE_STORE_H_
