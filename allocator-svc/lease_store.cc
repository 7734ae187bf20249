#include "allocator-svc/lease_store.h"

#include <sqlite3.h>

#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace berth::allocator {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE leases (
  box_id         TEXT PRIMARY KEY,
  state          INTEGER NOT NULL,   -- berth.allocator.v1.LeaseState
  tty            INTEGER,            -- NULL when the lease holds none
  gpu_index      INTEGER,            -- NULL when the lease holds none
  container_id   TEXT NOT NULL,
  reserved_at_us INTEGER NOT NULL,   -- Unix microseconds
  bound_at_us    INTEGER,            -- NULL until bound
  request        BLOB NOT NULL       -- serialized berth.allocator.v1.ReserveRequest
) WITHOUT ROWID;
-- One row per host port; the key makes it impossible to store one port in two leases.
CREATE TABLE lease_ports (
  protocol       INTEGER NOT NULL,   -- berth.allocator.v1.Protocol
  host_port      INTEGER NOT NULL,
  box_id         TEXT NOT NULL,
  position       INTEGER NOT NULL,   -- order within the lease
  container_port INTEGER NOT NULL,
  PRIMARY KEY (protocol, host_port)
) WITHOUT ROWID;
CREATE INDEX lease_ports_by_box ON lease_ports (box_id);
-- When each value was last given back, so reuse prefers what has been free longest.
CREATE TABLE released_values (
  pool        INTEGER NOT NULL,      -- 0 tty, 1 tcp ports, 2 udp ports
  value       INTEGER NOT NULL,
  release_seq INTEGER NOT NULL,
  PRIMARY KEY (pool, value)
) WITHOUT ROWID;
)sql";

int64_t TimestampMicros(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() * 1'000'000 + timestamp.nanos() / 1000;
}

void SetTimestampMicros(int64_t micros, google::protobuf::Timestamp* timestamp) {
  timestamp->set_seconds(micros / 1'000'000);
  timestamp->set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
}

// Binds a nullable integer: negative values mean "none".
void BindOptional(sqlite3_stmt* statement, int index, int64_t value) {
  if (value < 0) {
    sqlite3_bind_null(statement, index);
  } else {
    sqlite3_bind_int64(statement, index, value);
  }
}

int64_t ColumnOptional(sqlite3_stmt* statement, int index) {
  return sqlite3_column_type(statement, index) == SQLITE_NULL ? -1
                                                              : sqlite3_column_int64(statement, index);
}

}  // namespace

absl::Status LeaseStore::Error(const std::string& context) const {
  const int code = sqlite3_errcode(db_);
  // SQLite answers SQLITE_FULL for ENOSPC (and short writes); a quota is SQLITE_IOERR_WRITE
  // with EDQUOT. Neither wrote anything, so retrying once there is space is safe - unlike a
  // failed fsync, whose pages the kernel may have dropped.
  const int system_errno = sqlite3_system_errno(db_);
  if (code == SQLITE_FULL || (sqlite3_extended_errcode(db_) == SQLITE_IOERR_WRITE &&
                              (system_errno == ENOSPC || system_errno == EDQUOT))) {
    return absl::ResourceExhaustedError(absl::StrCat("the state disk is full: ", path_, " (",
                                                     context, ": ", sqlite3_errmsg(db_), ")"));
  }
  std::string message = absl::StrCat(context, " in ", path_, ": ", sqlite3_errmsg(db_));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, " (another process holds the state file)"));
  }
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return absl::DataLossError(message);
  if (code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_READONLY ||
      code == SQLITE_AUTH) {
    return absl::FailedPreconditionError(message);
  }
  return absl::UnavailableError(message);
}

absl::StatusOr<std::unique_ptr<LeaseStore>> LeaseStore::Open(const std::string& path) {
  RETURN_IF_ERROR(common::CreateParentDirectories(path, "state directory"));
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  std::unique_ptr<LeaseStore> store(new LeaseStore(path, db));
  if (rc != SQLITE_OK) return store->Error("open state file");

  // One process owns the file: exclusive locking mode keeps every lock taken until the
  // process ends (and lets WAL work without shared memory). The file is checked under that
  // lock before anything is written to it, so a refused file is left exactly as it was.
  auto exec = [&](const char* sql, const char* what) -> absl::Status {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return store->Error(what);
    return absl::OkStatus();
  };
  auto query_int = [&](const char* sql, int* value) -> absl::Status {
    sqlite3_stmt* statement = nullptr;
    const bool ok = sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
                    sqlite3_step(statement) == SQLITE_ROW;
    if (ok) *value = sqlite3_column_int(statement, 0);
    absl::Status status = ok ? absl::OkStatus() : store->Error(absl::StrCat("read (", sql, ")"));
    sqlite3_finalize(statement);
    return status;
  };
  RETURN_IF_ERROR(exec("PRAGMA locking_mode=EXCLUSIVE", "set exclusive locking"));
  RETURN_IF_ERROR(exec("BEGIN EXCLUSIVE", "lock state file"));
  int version = -1;
  int tables = 0;
  RETURN_IF_ERROR(query_int("PRAGMA user_version", &version));
  RETURN_IF_ERROR(query_int("SELECT count(*) FROM sqlite_master", &tables));
  RETURN_IF_ERROR(exec("COMMIT", "read schema"));
  const bool fresh = version == 0 && tables == 0;
  if (version == 0 && !fresh) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is a SQLite file but not a Berth state file; not touching it"));
  }
  if (!fresh && version != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has schema version ", version, "; this allocator-svc knows version ",
        kSchemaVersion, " only. Refusing to start rather than lose leases"));
  }
  RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL", "switch to WAL"));
  RETURN_IF_ERROR(exec("PRAGMA synchronous=FULL", "set synchronous=FULL"));
  if (fresh) {
    const std::string create =
        absl::StrCat("BEGIN;", kSchema, "PRAGMA user_version=", kSchemaVersion, ";COMMIT;");
    RETURN_IF_ERROR(exec(create.c_str(), "create schema"));
  }
  RETURN_IF_ERROR(store->Prepare());
  return store;
}

absl::Status LeaseStore::Prepare() {
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&insert_lease_,
       "INSERT INTO leases (box_id, state, tty, gpu_index, container_id, reserved_at_us, "
       "bound_at_us, request) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&insert_port_,
       "INSERT INTO lease_ports (protocol, host_port, box_id, position, container_port) "
       "VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&update_lease_,
       "UPDATE leases SET state = ?2, container_id = ?3, bound_at_us = ?4 WHERE box_id = ?1"},
      {&delete_ports_, "DELETE FROM lease_ports WHERE box_id = ?1"},
      {&delete_lease_, "DELETE FROM leases WHERE box_id = ?1"},
      {&upsert_released_,
       "INSERT INTO released_values (pool, value, release_seq) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (pool, value) DO UPDATE SET release_seq = excluded.release_seq"},
  };
  for (const auto& [target, sql] : statements) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, target, nullptr) !=
        SQLITE_OK) {
      return Error(absl::StrCat("prepare \"", sql, "\""));
    }
  }
  return absl::OkStatus();
}

LeaseStore::~LeaseStore() {
  for (sqlite3_stmt* statement : {insert_lease_, insert_port_, update_lease_, delete_ports_,
                                  delete_lease_, upsert_released_}) {
    sqlite3_finalize(statement);
  }
  sqlite3_close(db_);
}

absl::StatusOr<StoredState> LeaseStore::Load() {
  StoredState state;
  std::map<std::string, size_t> index_of;
  sqlite3_stmt* statement = nullptr;
  auto finish = [&](const char* what) -> absl::Status {
    const int rc = sqlite3_finalize(statement);
    statement = nullptr;
    return rc == SQLITE_OK ? absl::OkStatus() : Error(what);
  };

  if (sqlite3_prepare_v2(db_,
                         "SELECT box_id, state, tty, gpu_index, container_id, reserved_at_us, "
                         "bound_at_us, request FROM leases ORDER BY box_id",
                         -1, &statement, nullptr) != SQLITE_OK) {
    return Error("read leases");
  }
  while (sqlite3_step(statement) == SQLITE_ROW) {
    LeaseRecord record;
    v1::Lease& lease = record.lease;
    lease.set_box_id(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
    lease.set_state(static_cast<v1::LeaseState>(sqlite3_column_int(statement, 1)));
    lease.set_tty(static_cast<int32_t>(ColumnOptional(statement, 2)));
    lease.set_gpu_index(static_cast<int32_t>(ColumnOptional(statement, 3)));
    lease.set_container_id(reinterpret_cast<const char*>(sqlite3_column_text(statement, 4)));
    SetTimestampMicros(sqlite3_column_int64(statement, 5), lease.mutable_reserved_at());
    if (int64_t bound = ColumnOptional(statement, 6); bound >= 0) {
      SetTimestampMicros(bound, lease.mutable_bound_at());
    }
    if (!record.request.ParseFromArray(sqlite3_column_blob(statement, 7),
                                       sqlite3_column_bytes(statement, 7))) {
      sqlite3_finalize(statement);
      return absl::DataLossError(absl::StrCat("lease of box ", lease.box_id(), " in ", path_,
                                              " holds an unreadable request"));
    }
    index_of[lease.box_id()] = state.leases.size();
    state.leases.push_back(std::move(record));
  }
  RETURN_IF_ERROR(finish("read leases"));

  if (sqlite3_prepare_v2(db_,
                         "SELECT box_id, protocol, host_port, container_port FROM lease_ports "
                         "ORDER BY box_id, position",
                         -1, &statement, nullptr) != SQLITE_OK) {
    return Error("read lease ports");
  }
  while (sqlite3_step(statement) == SQLITE_ROW) {
    const std::string box_id = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    auto it = index_of.find(box_id);
    if (it == index_of.end()) {
      sqlite3_finalize(statement);
      return absl::DataLossError(
          absl::StrCat(path_, " holds ports of box ", box_id, " which has no lease"));
    }
    v1::PortBinding* port = state.leases[it->second].lease.add_ports();
    port->set_protocol(static_cast<v1::Protocol>(sqlite3_column_int(statement, 1)));
    port->set_host_port(static_cast<uint32_t>(sqlite3_column_int(statement, 2)));
    port->set_container_port(static_cast<uint32_t>(sqlite3_column_int(statement, 3)));
  }
  RETURN_IF_ERROR(finish("read lease ports"));

  if (sqlite3_prepare_v2(db_, "SELECT pool, value, release_seq FROM released_values", -1,
                         &statement, nullptr) != SQLITE_OK) {
    return Error("read release order");
  }
  while (sqlite3_step(statement) == SQLITE_ROW) {
    state.release_order.push_back({static_cast<PoolId>(sqlite3_column_int(statement, 0)),
                                   sqlite3_column_int(statement, 1),
                                   static_cast<uint64_t>(sqlite3_column_int64(statement, 2))});
  }
  RETURN_IF_ERROR(finish("read release order"));
  return state;
}

absl::Status LeaseStore::ApplyOne(const Mutation& mutation) {
  const v1::Lease& lease = mutation.record.lease;
  auto run = [this](sqlite3_stmt* statement, const char* what) -> absl::Status {
    const int rc = sqlite3_step(statement);
    absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : Error(what);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return status;
  };
  switch (mutation.kind) {
    case Mutation::Kind::kInsert: {
      const std::string request = mutation.record.request.SerializeAsString();
      sqlite3_bind_text(insert_lease_, 1, lease.box_id().data(),
                        static_cast<int>(lease.box_id().size()), SQLITE_STATIC);
      sqlite3_bind_int(insert_lease_, 2, lease.state());
      BindOptional(insert_lease_, 3, lease.tty());
      BindOptional(insert_lease_, 4, lease.gpu_index());
      sqlite3_bind_text(insert_lease_, 5, lease.container_id().data(),
                        static_cast<int>(lease.container_id().size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_lease_, 6, TimestampMicros(lease.reserved_at()));
      BindOptional(insert_lease_, 7,
                   lease.has_bound_at() ? TimestampMicros(lease.bound_at()) : -1);
      sqlite3_bind_blob(insert_lease_, 8, request.data(), static_cast<int>(request.size()),
                        SQLITE_STATIC);
      RETURN_IF_ERROR(run(insert_lease_, "insert lease"));
      for (int i = 0; i < lease.ports_size(); ++i) {
        const v1::PortBinding& port = lease.ports(i);
        sqlite3_bind_int(insert_port_, 1, port.protocol());
        sqlite3_bind_int64(insert_port_, 2, port.host_port());
        sqlite3_bind_text(insert_port_, 3, lease.box_id().data(),
                          static_cast<int>(lease.box_id().size()), SQLITE_STATIC);
        sqlite3_bind_int(insert_port_, 4, i);
        sqlite3_bind_int64(insert_port_, 5, port.container_port());
        RETURN_IF_ERROR(run(insert_port_, "insert lease port"));
      }
      return absl::OkStatus();
    }
    case Mutation::Kind::kUpdate:
      sqlite3_bind_text(update_lease_, 1, lease.box_id().data(),
                        static_cast<int>(lease.box_id().size()), SQLITE_STATIC);
      sqlite3_bind_int(update_lease_, 2, lease.state());
      sqlite3_bind_text(update_lease_, 3, lease.container_id().data(),
                        static_cast<int>(lease.container_id().size()), SQLITE_STATIC);
      BindOptional(update_lease_, 4,
                   lease.has_bound_at() ? TimestampMicros(lease.bound_at()) : -1);
      return run(update_lease_, "update lease");
    case Mutation::Kind::kDelete:
      for (sqlite3_stmt* statement : {delete_ports_, delete_lease_}) {
        sqlite3_bind_text(statement, 1, lease.box_id().data(),
                          static_cast<int>(lease.box_id().size()), SQLITE_STATIC);
        RETURN_IF_ERROR(run(statement, "delete lease"));
      }
      for (const FreedValue& freed : mutation.freed) {
        sqlite3_bind_int(upsert_released_, 1, static_cast<int>(freed.pool));
        sqlite3_bind_int(upsert_released_, 2, freed.value);
        sqlite3_bind_int64(upsert_released_, 3, static_cast<int64_t>(freed.release_seq));
        RETURN_IF_ERROR(run(upsert_released_, "record release order"));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown mutation kind");
}

absl::Status LeaseStore::Apply(const std::vector<const Mutation*>& mutations) {
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Error("begin transaction");
  }
  for (const Mutation* mutation : mutations) {
    absl::Status status = ApplyOne(*mutation);
    if (!status.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return status;
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    absl::Status status = Error("commit");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  return absl::OkStatus();
}

absl::Status LeaseStore::ProbeWrite() {
  // Rewriting the schema version dirties the database's first page: the commit appends a frame
  // to the WAL and fsyncs it, as any change would, and changes nothing.
  const std::string sql =
      absl::StrCat("BEGIN IMMEDIATE; PRAGMA user_version=", kSchemaVersion, "; COMMIT;");
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    absl::Status status = Error("test write");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  return absl::OkStatus();
}

}  // namespace berth::allocator
