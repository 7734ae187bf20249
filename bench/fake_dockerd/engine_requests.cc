// engine_wire.h, the requests: JSON bodies and query values, parsed through
// google.protobuf.Struct.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/fake_dockerd/engine_wire.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace berth::fake_dockerd {
namespace {

namespace pb = ::google::protobuf;

// Integers from 2^53 on are not exact in the doubles JSON numbers parse into.
constexpr double kMaxExactInteger = 9007199254740992.0;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<pb::Struct> ParseObject(absl::string_view json, absl::string_view what) {
  pb::Struct object;
  pb::util::JsonParseOptions options;
  pb::util::Status status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &object, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a JSON object: ", status.ToString()));
  }
  return object;
}

// The member `name`, or nullptr when it is missing or null.
const pb::Value* Member(const pb::Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() || it->second.kind_case() == pb::Value::kNullValue) {
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<std::string> StringOf(const pb::Value* value, absl::string_view field) {
  if (value == nullptr) return std::string();
  if (value->kind_case() != pb::Value::kStringValue) return Invalid(field, "not a string");
  return value->string_value();
}

absl::StatusOr<int64_t> IntOf(const pb::Value* value, absl::string_view field) {
  if (value == nullptr) return 0;
  if (value->kind_case() != pb::Value::kNumberValue) return Invalid(field, "not a number");
  const double number = value->number_value();
  if (number != std::floor(number) || std::fabs(number) >= kMaxExactInteger) {
    return Invalid(field, "not an integer in range");
  }
  return static_cast<int64_t>(number);
}

absl::StatusOr<bool> BoolOf(const pb::Value* value, absl::string_view field) {
  if (value == nullptr) return false;
  if (value->kind_case() != pb::Value::kBoolValue) return Invalid(field, "not a boolean");
  return value->bool_value();
}

absl::StatusOr<const pb::Struct*> ObjectOf(const pb::Value* value, absl::string_view field) {
  static const pb::Struct* const kEmpty = new pb::Struct();
  if (value == nullptr) return kEmpty;
  if (value->kind_case() != pb::Value::kStructValue) return Invalid(field, "not an object");
  return &value->struct_value();
}

absl::StatusOr<std::vector<const pb::Value*>> ArrayOf(const pb::Value* value,
                                                      absl::string_view field) {
  std::vector<const pb::Value*> items;
  if (value == nullptr) return items;
  if (value->kind_case() != pb::Value::kListValue) return Invalid(field, "not an array");
  for (const pb::Value& item : value->list_value().values()) items.push_back(&item);
  return items;
}

// An array of strings; Docker's "strslice" fields (Cmd) take a lone string too.
absl::StatusOr<std::vector<std::string>> StringsOf(const pb::Value* value, absl::string_view field,
                                                   bool lone_string_ok = false) {
  if (lone_string_ok && value != nullptr && value->kind_case() == pb::Value::kStringValue) {
    return std::vector<std::string>{value->string_value()};
  }
  ASSIGN_OR_RETURN(std::vector<const pb::Value*> items, ArrayOf(value, field));
  std::vector<std::string> strings;
  for (const pb::Value* item : items) {
    ASSIGN_OR_RETURN(std::string text, StringOf(item, field));
    strings.push_back(std::move(text));
  }
  return strings;
}

absl::StatusOr<std::map<std::string, std::string>> StringMapOf(const pb::Value* value,
                                                               absl::string_view field) {
  ASSIGN_OR_RETURN(const pb::Struct* object, ObjectOf(value, field));
  std::map<std::string, std::string> map;
  for (const auto& [key, item] : object->fields()) {
    ASSIGN_OR_RETURN(map[key], StringOf(&item, absl::StrCat(field, ".", key)));
  }
  return map;
}

// "4194304", "4096k", "4m", "1g" as bytes (the tmpfs `size=` forms the fake takes).
absl::StatusOr<int64_t> ParseSize(absl::string_view text) {
  int64_t unit = 1;
  if (!text.empty()) {
    switch (absl::ascii_tolower(static_cast<unsigned char>(text.back()))) {
      case 'k':
        unit = int64_t{1} << 10;
        break;
      case 'm':
        unit = int64_t{1} << 20;
        break;
      case 'g':
        unit = int64_t{1} << 30;
        break;
      default:
        break;
    }
    if (unit != 1) text.remove_suffix(1);
  }
  int64_t count = 0;
  if (!absl::SimpleAtoi(text, &count) || count < 0 || count > (int64_t{1} << 50) / unit) {
    return absl::InvalidArgumentError(absl::StrCat("bad tmpfs size '", text, "'"));
  }
  return count * unit;
}

// One entry of HostConfig.Mounts: an anonymous volume of the local driver.
absl::StatusOr<docker::TmpfsVolume> ParseMount(const pb::Struct& mount, absl::string_view field) {
  ASSIGN_OR_RETURN(std::string type, StringOf(Member(mount, "Type"), absl::StrCat(field, ".Type")));
  if (type != "volume") {
    return Invalid(field, absl::StrCat("mount type '", type,
                                       "' is not served by fake_dockerd (only anonymous volumes)"));
  }
  ASSIGN_OR_RETURN(std::string source, StringOf(Member(mount, "Source"), "Source"));
  if (!source.empty()) {
    return Invalid(field, "named volumes are not served by fake_dockerd (only anonymous ones)");
  }
  docker::TmpfsVolume volume;
  volume.size_bytes = 0;
  ASSIGN_OR_RETURN(volume.target, StringOf(Member(mount, "Target"), "Target"));
  if (volume.target.empty() || volume.target[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid mount config for type \"volume\": invalid mount path: '",
                     volume.target, "' mount path must be absolute"));
  }
  ASSIGN_OR_RETURN(const pb::Struct* options,
                   ObjectOf(Member(mount, "VolumeOptions"), "VolumeOptions"));
  ASSIGN_OR_RETURN(volume.labels, StringMapOf(Member(*options, "Labels"), "VolumeOptions.Labels"));
  ASSIGN_OR_RETURN(const pb::Struct* driver,
                   ObjectOf(Member(*options, "DriverConfig"), "DriverConfig"));
  ASSIGN_OR_RETURN(std::string driver_name, StringOf(Member(*driver, "Name"), "DriverConfig.Name"));
  if (!driver_name.empty() && driver_name != "local") {
    return Invalid(field, absl::StrCat("volume driver '", driver_name,
                                       "' is not served by fake_dockerd (only local)"));
  }
  ASSIGN_OR_RETURN(auto driver_options,
                   StringMapOf(Member(*driver, "Options"), "DriverConfig.Options"));
  if (auto it = driver_options.find("type"); it != driver_options.end() && it->second != "tmpfs") {
    return Invalid(field, absl::StrCat("local volumes of type '", it->second,
                                       "' are not served by fake_dockerd (only tmpfs)"));
  }
  if (auto it = driver_options.find("o"); it != driver_options.end()) {
    for (absl::string_view option : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> key_value =
          absl::StrSplit(option, absl::MaxSplits('=', 1));
      if (key_value.first == "size") {
        ASSIGN_OR_RETURN(volume.size_bytes, ParseSize(key_value.second));
      } else if (key_value.first == "mode") {
        volume.mode = std::string(key_value.second);
      } else if (key_value.first == "nr_inodes") {
        if (!absl::SimpleAtoi(key_value.second, &volume.max_inodes)) {
          return Invalid(field, absl::StrCat("bad nr_inodes '", key_value.second, "'"));
        }
      }
    }
  }
  return volume;
}

// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}.
absl::StatusOr<std::vector<docker::PortBinding>> ParsePortBindings(const pb::Value* value) {
  ASSIGN_OR_RETURN(const pb::Struct* bindings, ObjectOf(value, "HostConfig.PortBindings"));
  std::vector<docker::PortBinding> ports;
  for (const auto& [key, list] : bindings->fields()) {
    std::pair<std::string, std::string> port_proto = absl::StrSplit(key, absl::MaxSplits('/', 1));
    docker::PortBinding base;
    if (!absl::SimpleAtoi(port_proto.first, &base.container_port) || base.container_port == 0 ||
        base.container_port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("invalid port specification: \"", key, "\""));
    }
    base.protocol = port_proto.second.empty() ? "tcp" : port_proto.second;
    if (base.protocol != "tcp" && base.protocol != "udp" && base.protocol != "sctp") {
      return absl::InvalidArgumentError(absl::StrCat("invalid proto: ", base.protocol));
    }
    ASSIGN_OR_RETURN(std::vector<const pb::Value*> entries, ArrayOf(&list, key));
    for (const pb::Value* entry : entries) {
      ASSIGN_OR_RETURN(const pb::Struct* object, ObjectOf(entry, key));
      docker::PortBinding binding = base;
      ASSIGN_OR_RETURN(binding.host_ip, StringOf(Member(*object, "HostIp"), "HostIp"));
      ASSIGN_OR_RETURN(std::string host_port, StringOf(Member(*object, "HostPort"), "HostPort"));
      if (!host_port.empty() &&
          (!absl::SimpleAtoi(host_port, &binding.host_port) || binding.host_port > 65535)) {
        return absl::InvalidArgumentError(absl::StrCat("invalid hostPort: ", host_port));
      }
      ports.push_back(std::move(binding));
    }
  }
  std::sort(ports.begin(), ports.end(),
            [](const docker::PortBinding& a, const docker::PortBinding& b) {
              return std::tie(a.container_port, a.protocol, a.host_ip, a.host_port) <
                     std::tie(b.container_port, b.protocol, b.host_ip, b.host_port);
            });
  return ports;
}

absl::StatusOr<std::vector<docker::DeviceMapping>> ParseDevices(const pb::Value* value) {
  ASSIGN_OR_RETURN(std::vector<const pb::Value*> entries, ArrayOf(value, "HostConfig.Devices"));
  std::vector<docker::DeviceMapping> devices;
  for (const pb::Value* entry : entries) {
    ASSIGN_OR_RETURN(const pb::Struct* object, ObjectOf(entry, "HostConfig.Devices"));
    docker::DeviceMapping device;
    ASSIGN_OR_RETURN(device.path_on_host, StringOf(Member(*object, "PathOnHost"), "PathOnHost"));
    ASSIGN_OR_RETURN(device.path_in_container,
                     StringOf(Member(*object, "PathInContainer"), "PathInContainer"));
    ASSIGN_OR_RETURN(device.cgroup_permissions,
                     StringOf(Member(*object, "CgroupPermissions"), "CgroupPermissions"));
    devices.push_back(std::move(device));
  }
  return devices;
}

absl::Status ParseHostConfig(const pb::Struct& host, docker::ContainerSpec& spec) {
  ASSIGN_OR_RETURN(spec.binds, StringsOf(Member(host, "Binds"), "HostConfig.Binds"));
  ASSIGN_OR_RETURN(spec.ports, ParsePortBindings(Member(host, "PortBindings")));
  ASSIGN_OR_RETURN(spec.devices, ParseDevices(Member(host, "Devices")));
  ASSIGN_OR_RETURN(spec.cap_add, StringsOf(Member(host, "CapAdd"), "HostConfig.CapAdd"));
  ASSIGN_OR_RETURN(spec.cap_drop, StringsOf(Member(host, "CapDrop"), "HostConfig.CapDrop"));
  ASSIGN_OR_RETURN(spec.security_opt,
                   StringsOf(Member(host, "SecurityOpt"), "HostConfig.SecurityOpt"));
  ASSIGN_OR_RETURN(spec.shm_size_bytes, IntOf(Member(host, "ShmSize"), "HostConfig.ShmSize"));
  ASSIGN_OR_RETURN(spec.tmpfs, StringMapOf(Member(host, "Tmpfs"), "HostConfig.Tmpfs"));
  ASSIGN_OR_RETURN(spec.memory_bytes, IntOf(Member(host, "Memory"), "HostConfig.Memory"));
  ASSIGN_OR_RETURN(spec.nano_cpus, IntOf(Member(host, "NanoCpus"), "HostConfig.NanoCpus"));
  ASSIGN_OR_RETURN(spec.pids_limit, IntOf(Member(host, "PidsLimit"), "HostConfig.PidsLimit"));
  ASSIGN_OR_RETURN(std::vector<const pb::Value*> mounts,
                   ArrayOf(Member(host, "Mounts"), "HostConfig.Mounts"));
  for (size_t i = 0; i < mounts.size(); ++i) {
    const std::string field = absl::StrCat("HostConfig.Mounts[", i, "]");
    ASSIGN_OR_RETURN(const pb::Struct* mount, ObjectOf(mounts[i], field));
    ASSIGN_OR_RETURN(docker::TmpfsVolume volume, ParseMount(*mount, field));
    spec.tmpfs_volumes.push_back(std::move(volume));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<docker::ContainerSpec> ParseCreateBody(absl::string_view body, std::string name) {
  ASSIGN_OR_RETURN(pb::Struct config, ParseObject(body, "the create body"));
  docker::ContainerSpec spec;
  spec.name = std::move(name);
  ASSIGN_OR_RETURN(spec.image, StringOf(Member(config, "Image"), "Image"));
  if (spec.image.empty()) return absl::InvalidArgumentError("Image: required");
  ASSIGN_OR_RETURN(spec.cmd, StringsOf(Member(config, "Cmd"), "Cmd", /*lone_string_ok=*/true));
  ASSIGN_OR_RETURN(spec.env, StringsOf(Member(config, "Env"), "Env"));
  ASSIGN_OR_RETURN(spec.labels, StringMapOf(Member(config, "Labels"), "Labels"));
  ASSIGN_OR_RETURN(spec.stop_signal, StringOf(Member(config, "StopSignal"), "StopSignal"));
  ASSIGN_OR_RETURN(int64_t stop_timeout, IntOf(Member(config, "StopTimeout"), "StopTimeout"));
  spec.stop_timeout_seconds = static_cast<int32_t>(std::clamp<int64_t>(stop_timeout, -1, 1 << 30));
  ASSIGN_OR_RETURN(const pb::Struct* host, ObjectOf(Member(config, "HostConfig"), "HostConfig"));
  RETURN_IF_ERROR(ParseHostConfig(*host, spec));
  return spec;
}

absl::StatusOr<docker::EventFilters> ParseFilters(absl::string_view json) {
  docker::EventFilters filters;
  if (absl::StripAsciiWhitespace(json).empty()) return filters;
  ASSIGN_OR_RETURN(pb::Struct object, ParseObject(json, "filters"));
  for (const auto& [name, value] : object.fields()) {
    std::vector<std::string>& values = filters[name];
    if (value.kind_case() == pb::Value::kStructValue) {
      // Docker's older form: {"label": {"a": true}}.
      for (const auto& [item, on] : value.struct_value().fields()) {
        ASSIGN_OR_RETURN(bool enabled, BoolOf(&on, absl::StrCat("filters.", name)));
        if (enabled) values.push_back(item);
      }
    } else {
      ASSIGN_OR_RETURN(values, StringsOf(&value, absl::StrCat("filters.", name)));
    }
  }
  return filters;
}

absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view text, absl::Time now) {
  absl::Time time;
  std::string ignored;
  if (absl::StrContains(text, '-') || absl::StrContains(text, ':')) {
    if (absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &ignored)) return time;
    return absl::InvalidArgumentError(absl::StrCat("bad timestamp '", text, "'"));
  }
  absl::Duration ago;
  if (!text.empty() && absl::ascii_isalpha(static_cast<unsigned char>(text.back())) &&
      absl::ParseDuration(text, &ago)) {
    return now - ago;
  }
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('.', 1));
  int64_t seconds = 0;
  int64_t nanos = 0;
  if (!absl::SimpleAtoi(parts.first, &seconds) || parts.second.size() > 9 ||
      (!parts.second.empty() && !absl::SimpleAtoi(parts.second, &nanos)) || nanos < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad timestamp '", text, "'"));
  }
  for (size_t digits = parts.second.size(); digits < 9; ++digits) nanos *= 10;
  return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
}

bool QueryBool(absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  return !(lower.empty() || lower == "0" || lower == "no" || lower == "false" || lower == "none");
}

std::optional<int> ParseSignal(absl::string_view text) {
  static const auto* const kSignals = new std::map<std::string, int>{
      {"HUP", 1},   {"INT", 2},     {"QUIT", 3},  {"ILL", 4},     {"TRAP", 5},  {"ABRT", 6},
      {"BUS", 7},   {"FPE", 8},     {"KILL", 9},  {"USR1", 10},   {"SEGV", 11}, {"USR2", 12},
      {"PIPE", 13}, {"ALRM", 14},   {"TERM", 15}, {"STKFLT", 16}, {"CHLD", 17}, {"CONT", 18},
      {"STOP", 19}, {"TSTP", 20},   {"TTIN", 21}, {"TTOU", 22},   {"URG", 23},  {"XCPU", 24},
      {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27}, {"WINCH", 28},  {"IO", 29},   {"PWR", 30},
      {"SYS", 31}};
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) {
    if (number >= 1 && number <= 64) return number;
    return std::nullopt;
  }
  std::string name = absl::AsciiStrToUpper(text);
  absl::string_view bare = name;
  absl::ConsumePrefix(&bare, "SIG");
  auto it = kSignals->find(std::string(bare));
  if (it == kSignals->end()) return std::nullopt;
  return it->second;
}

}  // namespace berth::fake_dockerd
