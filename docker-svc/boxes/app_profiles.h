#ifndef BERTH_DOCKER_SVC_BOXES_APP_PROFILES_H_
#define BERTH_DOCKER_SVC_BOXES_APP_PROFILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/box/v1/app_profile.pb.h"

namespace berth::docker {

// The file a box writes into its mapping directory to be stopped.
inline constexpr char kShutdownRequestFile[] = "shutdown";
// The size of a box's mapping directory when its profile does not set one: room for the
// largest client config.json and the box's own markers.
inline constexpr uint64_t kDefaultMappingDirBytes = 4 << 20;

// The app profiles a host serves, loaded once at start. Immutable; thread-safe to read.
class AppCatalog {
 public:
  // nullptr when there is no such app.
  const box::v1::AppProfile* Find(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t size() const { return profiles_.size(); }

 private:
  friend absl::StatusOr<AppCatalog> LoadAppProfiles(const std::string& dir);
  std::map<std::string, box::v1::AppProfile> profiles_;
};

// Reads every <name>.textproto in `dir` (other files are ignored), fills in defaults
// (mappings_dir, readiness and stop timeouts) and validates each profile.
//
// A malformed profile stops the start: INVALID_ARGUMENT lists every problem of every file,
// one per line, as "<file>:<line>: <field path>: <what>" (line numbers from 1), so an operator
// fixes them all in one go. NOT_FOUND when `dir` does not exist; an empty directory is a
// valid (empty) catalog.
absl::StatusOr<AppCatalog> LoadAppProfiles(const std::string& dir);

// A profile with only `name` and the defaults (timeouts, stop grace, mappings_dir): what a box
// runs on when its app left the catalog and its record does not hold the profile it was made
// with.
box::v1::AppProfile RetiredAppProfile(const std::string& name);

// Parses and validates one profile's text; `file` names it in errors and its stem must equal
// the profile's name.
absl::StatusOr<box::v1::AppProfile> ParseAppProfile(const std::string& file,
                                                    const std::string& text);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_APP_PROFILES_H_
