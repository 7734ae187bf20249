#include "docker-svc/boxes/app_profiles.h"

#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace berth::docker {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::TextFormat;

constexpr char kExtension[] = ".textproto";
constexpr char kDefaultMappingsDir[] = "/whist/resourceMappings";
constexpr uint32_t kDefaultReadinessTimeoutSeconds = 20;
constexpr uint32_t kDefaultStopGraceSeconds = 10;
constexpr uint32_t kDefaultConfigTimeoutSeconds = 90;
constexpr int kMaxPorts = 64;
constexpr uint64_t kMinMappingDirBytes = 2 << 20;
constexpr uint64_t kMinDiskLimitBytes = 1 << 20;

// Collects the problems of one file, each with the line of the field it is about.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}

  // `line` is 0-based as protobuf reports it; -1 when the field is not in the file.
  void Add(int line, absl::string_view field, absl::string_view what) {
    std::string where = line >= 0 ? absl::StrCat(file_, ":", line + 1) : file_;
    list_.push_back(field.empty() ? absl::StrCat(where, ": ", what)
                                  : absl::StrCat(where, ": ", field, ": ", what));
  }
  // A problem with field `name` (occurrence `index` of a repeated field) of the message whose
  // locations are in `tree`.
  void At(const TextFormat::ParseInfoTree* tree, const Message& message, absl::string_view name,
          int index, absl::string_view what) {
    const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(std::string(name));
    int line = -1;
    if (tree != nullptr && field != nullptr) {
      line = tree->GetLocation(field, field->is_repeated() ? index : -1).line;
    }
    Add(line, index >= 0 ? absl::StrCat(name, "[", index, "]") : std::string(name), what);
  }
  bool empty() const { return list_.empty(); }
  const std::vector<std::string>& list() const { return list_; }

 private:
  std::string file_;
  std::vector<std::string> list_;
};

class SyntaxErrors final : public google::protobuf::io::ErrorCollector {
 public:
  explicit SyntaxErrors(Problems* problems) : problems_(problems) {}
  void AddError(int line, int column, const std::string& message) override {
    problems_->Add(line, "", message);
  }
  void AddWarning(int line, int column, const std::string& message) override {}

 private:
  Problems* problems_;
};

bool IsAppName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!absl::ascii_islower(name[0]) && !absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool IsEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool IsAbsolutePath(absl::string_view path) {
  return absl::StartsWith(path, "/") && !absl::StrContains(path, ":") &&
         !absl::StrContains(path, "/../") && !absl::EndsWith(path, "/..");
}

// An absolute path as Docker reports it back: no "//", no "." component, no trailing '/'.
bool IsCanonicalPath(absl::string_view path) {
  return IsAbsolutePath(path) && path != "/" && !absl::StrContains(path, "//") &&
         !absl::StrContains(path, "/./") && !absl::EndsWith(path, "/.") &&
         !absl::EndsWith(path, "/");
}

bool IsCapability(absl::string_view name) {
  if (name.empty() || absl::StartsWith(name, "CAP_")) return false;
  for (char c : name) {
    if (!absl::ascii_isupper(c) && !absl::ascii_isdigit(c) && c != '_') return false;
  }
  return true;
}

// The key of occurrence `index` of map field `name`, as parsed (in file order).
std::string MapKey(const Message& message, const FieldDescriptor* field, int index) {
  const Message& entry = message.GetReflection()->GetRepeatedMessage(message, field, index);
  return entry.GetReflection()->GetString(entry, entry.GetDescriptor()->map_key());
}

void CheckStringMap(const Message& message, absl::string_view name,
                    const TextFormat::ParseInfoTree* tree,
                    const std::function<std::string(const std::string&)>& check_key,
                    Problems* problems) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(std::string(name));
  const int size = message.GetReflection()->FieldSize(message, field);
  for (int i = 0; i < size; ++i) {
    const std::string key = MapKey(message, field, i);
    const std::string problem = check_key(key);
    if (!problem.empty()) {
      // The key is C-escaped: one a profile spells with "\n" or a quote must not add a line
      // to the problem list that does not name the file, nor forge another problem.
      problems->Add(tree->GetLocation(field, i).line,
                    absl::StrCat(name, "[\"", absl::CHexEscape(key), "\"]"), problem);
    }
  }
}

// The checks below each add the problems of some of a profile's fields, in field order;
// `top` holds the fields' locations in the file.

void CheckNameAndImage(const std::string& stem, const box::v1::AppProfile& profile,
                       const TextFormat::ParseInfoTree* top, Problems* problems) {
  if (!IsAppName(profile.name())) {
    problems->At(top, profile, "name", -1,
                 "must be 1-64 characters of [a-z0-9_.-] starting with a letter or digit");
  } else if (profile.name() != stem) {
    problems->At(top, profile, "name", -1,
                 absl::StrCat("\"", profile.name(), "\" differs from the file name \"", stem,
                              kExtension, "\""));
  }
  if (profile.image().empty()) {
    problems->At(top, profile, "image", -1, "is required");
  } else if (absl::StrContains(profile.image(), " ")) {
    problems->At(top, profile, "image", -1, "holds a space");
  }
}

void CheckPorts(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
                Problems* problems) {
  if (profile.ports_size() > kMaxPorts) {
    problems->At(top, profile, "ports", kMaxPorts, absl::StrCat("at most ", kMaxPorts, " ports"));
  }
  std::set<std::pair<int, uint32_t>> ports;
  for (int i = 0; i < profile.ports_size(); ++i) {
    const box::v1::ContainerPort& port = profile.ports(i);
    if (port.port() < 1 || port.port() > 65535) {
      problems->At(top, profile, "ports", i,
                   absl::StrCat("port ", port.port(), " is outside 1-65535"));
    }
    if (port.protocol() != allocator::v1::PROTOCOL_TCP &&
        port.protocol() != allocator::v1::PROTOCOL_UDP) {
      problems->At(top, profile, "ports", i, "protocol must be PROTOCOL_TCP or PROTOCOL_UDP");
    } else if (!ports.emplace(port.protocol(), port.port()).second) {
      problems->At(top, profile, "ports", i,
                   absl::StrCat("port ", port.port(), " is listed twice"));
    }
  }
}

// env and overridable_env.
void CheckEnv(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
              Problems* problems) {
  CheckStringMap(profile, "env", top,
                 [](const std::string& key) {
                   return IsEnvName(key) ? "" : "is not an environment variable name";
                 },
                 problems);
  std::set<std::string> overridable;
  for (int i = 0; i < profile.overridable_env_size(); ++i) {
    const std::string& key = profile.overridable_env(i);
    if (!IsEnvName(key)) {
      problems->At(top, profile, "overridable_env", i, "is not an environment variable name");
    } else if (!overridable.insert(key).second) {
      problems->At(top, profile, "overridable_env", i, absl::StrCat(key, " is listed twice"));
    } else if (key == profile.aes_key_env()) {
      problems->At(top, profile, "overridable_env", i,
                   "names aes_key_env; a request may never set the box's key");
    }
  }
}

// mappings_dir, binds and devices.
void CheckPaths(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
                Problems* problems) {
  const std::string& mappings_dir = profile.mappings_dir();
  if (!IsCanonicalPath(mappings_dir)) {
    problems->At(top, profile, "mappings_dir", -1,
                 "must be an absolute path without ':', '//', '.' or '..' components, nor a "
                 "trailing '/' (nor '/' itself)");
  }
  for (int i = 0; i < profile.binds_size(); ++i) {
    const box::v1::BindMount& bind = profile.binds(i);
    if (!IsAbsolutePath(bind.host_path()) || !IsAbsolutePath(bind.container_path())) {
      problems->At(top, profile, "binds", i,
                   "host_path and container_path must be absolute paths without ':'");
    } else if (bind.container_path() == mappings_dir) {
      problems->At(top, profile, "binds", i, "container_path is the mapping directory");
    }
  }
  for (int i = 0; i < profile.devices_size(); ++i) {
    const box::v1::Device& device = profile.devices(i);
    if (!absl::StartsWith(device.host_path(), "/dev/") || !IsAbsolutePath(device.host_path())) {
      problems->At(top, profile, "devices", i, "host_path must be a path under /dev/");
    }
    if (!device.container_path().empty() && !IsAbsolutePath(device.container_path())) {
      problems->At(top, profile, "devices", i, "container_path must be an absolute path");
    }
    if (device.permissions().find_first_not_of("rwm") != std::string::npos) {
      problems->At(top, profile, "devices", i, "permissions must be some of \"rwm\"");
    }
  }
}

void CheckCapabilities(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
                       Problems* problems) {
  for (const char* name : {"cap_add", "cap_drop"}) {
    const auto& caps = std::string(name) == "cap_add" ? profile.cap_add() : profile.cap_drop();
    for (int i = 0; i < caps.size(); ++i) {
      if (!IsCapability(caps[i])) {
        problems->At(top, profile, name, i,
                     "must be a capability name in capitals without CAP_, e.g. SYS_NICE");
      }
    }
  }
}

// tmpfs, mapping_dir_bytes, disk_limit_bytes, cpus and pids_limit.
void CheckResources(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
                    Problems* problems) {
  const std::string& mappings_dir = profile.mappings_dir();
  CheckStringMap(profile, "tmpfs", top,
                 [&mappings_dir](const std::string& path) {
                   if (!IsAbsolutePath(path)) return "must be an absolute path without ':'";
                   return path == mappings_dir ? "is the mapping directory" : "";
                 },
                 problems);
  if (profile.mapping_dir_bytes() != 0 && profile.mapping_dir_bytes() < kMinMappingDirBytes) {
    problems->At(top, profile, "mapping_dir_bytes", -1,
                 absl::StrCat("must be 0 (", kDefaultMappingDirBytes >> 20, " MiB) or at least ",
                              kMinMappingDirBytes >> 20, " MiB"));
  }
  if (profile.disk_limit_bytes() != 0 && profile.disk_limit_bytes() < kMinDiskLimitBytes) {
    problems->At(top, profile, "disk_limit_bytes", -1,
                 absl::StrCat("must be 0 (no limit) or at least ", kMinDiskLimitBytes >> 20,
                              " MiB"));
  }
  if (profile.cpus() < 0) problems->At(top, profile, "cpus", -1, "must not be negative");
  if (profile.pids_limit() < 0) {
    problems->At(top, profile, "pids_limit", -1, "must not be negative");
  }
}

// readiness_marker and aes_key_env.
void CheckMarkerAndKey(const box::v1::AppProfile& profile, const TextFormat::ParseInfoTree* top,
                       Problems* problems) {
  const std::string& marker = profile.readiness_marker();
  if (!marker.empty() && (absl::StrContains(marker, "/") || marker == "." || marker == ".." ||
                          marker == ".paramsReady" || marker == kShutdownRequestFile)) {
    problems->At(top, profile, "readiness_marker", -1,
                 "must be a plain file name other than .paramsReady and shutdown");
  }
  if (!profile.aes_key_env().empty() && !IsEnvName(profile.aes_key_env())) {
    problems->At(top, profile, "aes_key_env", -1, "is not an environment variable name");
  }
}

// Adds every problem of `profile` (parsed from a file named `stem` plus kExtension, with its
// fields' locations in `tree`) to `problems`, in field order.
void Validate(const std::string& stem, const box::v1::AppProfile& profile,
              const TextFormat::ParseInfoTree& tree, Problems* problems) {
  const TextFormat::ParseInfoTree* top = &tree;
  CheckNameAndImage(stem, profile, top, problems);
  CheckPorts(profile, top, problems);
  CheckEnv(profile, top, problems);
  CheckPaths(profile, top, problems);
  CheckCapabilities(profile, top, problems);
  CheckResources(profile, top, problems);
  CheckMarkerAndKey(profile, top, problems);
}

void FillDefaults(box::v1::AppProfile* profile) {
  if (profile->mappings_dir().empty()) profile->set_mappings_dir(kDefaultMappingsDir);
  if (profile->mapping_dir_bytes() == 0) profile->set_mapping_dir_bytes(kDefaultMappingDirBytes);
  if (profile->readiness_timeout_seconds() == 0) {
    profile->set_readiness_timeout_seconds(kDefaultReadinessTimeoutSeconds);
  }
  if (profile->stop_grace_seconds() == 0) profile->set_stop_grace_seconds(kDefaultStopGraceSeconds);
  if (profile->config_timeout_seconds() == 0) {
    profile->set_config_timeout_seconds(kDefaultConfigTimeoutSeconds);
  }
}

// Parses and validates into `profile`; problems go to `problems`.
void ParseInto(const std::string& file, const std::string& text, box::v1::AppProfile* profile,
               Problems* problems) {
  SyntaxErrors syntax(problems);
  TextFormat::ParseInfoTree tree;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&syntax);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, profile)) return;
  FillDefaults(profile);
  std::string stem = std::filesystem::path(file).filename().string();
  if (absl::EndsWith(stem, kExtension)) stem.resize(stem.size() - strlen(kExtension));
  Validate(stem, *profile, tree, problems);
}

}  // namespace

box::v1::AppProfile RetiredAppProfile(const std::string& name) {
  box::v1::AppProfile profile;
  profile.set_name(name);
  FillDefaults(&profile);
  return profile;
}

const box::v1::AppProfile* AppCatalog::Find(const std::string& name) const {
  auto it = profiles_.find(name);
  return it == profiles_.end() ? nullptr : &it->second;
}

std::vector<std::string> AppCatalog::names() const {
  std::vector<std::string> names;
  for (const auto& [name, profile] : profiles_) names.push_back(name);
  return names;
}

absl::StatusOr<box::v1::AppProfile> ParseAppProfile(const std::string& file,
                                                    const std::string& text) {
  box::v1::AppProfile profile;
  Problems problems(file);
  ParseInto(file, text, &profile, &problems);
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems.list(), "\n"));
  }
  return profile;
}

absl::StatusOr<AppCatalog> LoadAppProfiles(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat("apps directory ", dir, " does not exist"));
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file() && entry.path().extension() == kExtension) {
      files.push_back(entry.path());
    }
  }
  if (error) return absl::UnavailableError(absl::StrCat("read ", dir, ": ", error.message()));
  std::sort(files.begin(), files.end());

  AppCatalog catalog;
  std::vector<std::string> problems;
  for (const std::filesystem::path& path : files) {
    absl::StatusOr<std::string> text = common::ReadFile(path.string());
    if (!text.ok()) {
      problems.push_back(std::string(text.status().message()));
      continue;
    }
    absl::StatusOr<box::v1::AppProfile> profile = ParseAppProfile(path.string(), *text);
    if (!profile.ok()) {
      problems.push_back(std::string(profile.status().message()));
      continue;
    }
    catalog.profiles_.emplace(profile->name(), *std::move(profile));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed app profiles in ", dir, ":\n", absl::StrJoin(problems, "\n")));
  }
  return catalog;
}

}  // namespace berth::docker
