#include "docker-svc/engine/engine_json.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "engine_api.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace berth::docker::engine_json {
namespace {

namespace pb = ::google::protobuf;

// Integers from 2^53 on are not exact in the doubles that carry them (see engine_api.proto).
constexpr int64_t kMaxExactInteger = int64_t{1} << 53;

absl::Status Parse(absl::string_view json, absl::string_view what, pb::Message* message) {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  pb::util::Status status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", what, " from the engine: ", status.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Print(const pb::Message& message) {
  std::string json;
  pb::util::Status status = pb::util::MessageToJsonString(message, &json);
  if (!status.ok()) return absl::InternalError(absl::StrCat("encode JSON: ", status.ToString()));
  return json;
}

absl::Status CheckQuantity(int64_t value, absl::string_view field) {
  if (value < 0 || value >= kMaxExactInteger) {
    return absl::InvalidArgumentError(absl::StrCat(field, " out of range: ", value));
  }
  return absl::OkStatus();
}

std::string PortKey(const PortBinding& binding) {
  return absl::StrCat(binding.container_port, "/", binding.protocol);
}

// "" and Docker's zero time "0001-01-01T00:00:00Z" mean "never".
absl::Time ParseDockerTime(const std::string& text) {
  absl::Time time;
  std::string ignored;
  if (text.empty() || absl::StartsWith(text, "0001-01-01") ||
      !absl::ParseTime(absl::RFC3339_full, text, &time, &ignored)) {
    return absl::InfinitePast();
  }
  return time;
}

// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "81/udp": null}.
absl::StatusOr<std::vector<PortBinding>> ParsePortBindings(const pb::Struct& bindings) {
  std::vector<PortBinding> ports;
  for (const auto& [key, value] : bindings.fields()) {
    std::pair<std::string, std::string> port_proto =
        absl::StrSplit(key, absl::MaxSplits('/', 1));
    PortBinding base;
    if (!absl::SimpleAtoi(port_proto.first, &base.container_port)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed port binding key '", key, "'"));
    }
    base.protocol = port_proto.second.empty() ? "tcp" : port_proto.second;
    if (value.kind_case() != pb::Value::kListValue) continue;  // null: exposed, not published
    for (const pb::Value& entry : value.list_value().values()) {
      PortBinding binding = base;
      if (entry.kind_case() == pb::Value::kStructValue) {
        const auto& fields = entry.struct_value().fields();
        if (auto it = fields.find("HostIp"); it != fields.end()) {
          binding.host_ip = it->second.string_value();
        }
        if (auto it = fields.find("HostPort"); it != fields.end()) {
          const std::string& host_port = it->second.string_value();
          if (!host_port.empty() && !absl::SimpleAtoi(host_port, &binding.host_port)) {
            return absl::InvalidArgumentError(
                absl::StrCat("malformed host port '", host_port, "' for ", key));
          }
        }
      }
      ports.push_back(std::move(binding));
    }
  }
  std::sort(ports.begin(), ports.end(), [](const PortBinding& a, const PortBinding& b) {
    return std::tie(a.container_port, a.protocol, a.host_ip, a.host_port) <
           std::tie(b.container_port, b.protocol, b.host_ip, b.host_port);
  });
  return ports;
}

std::vector<DeviceMapping> ToDevices(const pb::RepeatedPtrField<engine::DeviceMapping>& in) {
  std::vector<DeviceMapping> devices;
  for (const engine::DeviceMapping& device : in) {
    devices.push_back({device.path_on_host(), device.path_in_container(),
                       device.cgroup_permissions()});
  }
  return devices;
}

std::string StripSlash(const std::string& name) {
  return std::string(absl::StripPrefix(name, "/"));
}

// OK when `spec` names an image and its scalar quantities fit Docker's JSON numbers.
absl::Status CheckSpecScalars(const ContainerSpec& spec) {
  if (spec.image.empty()) return absl::InvalidArgumentError("container spec has no image");
  RETURN_IF_ERROR(CheckQuantity(spec.shm_size_bytes, "shm_size_bytes"));
  RETURN_IF_ERROR(CheckQuantity(spec.memory_bytes, "memory_bytes"));
  RETURN_IF_ERROR(CheckQuantity(spec.nano_cpus, "nano_cpus"));
  RETURN_IF_ERROR(CheckQuantity(spec.pids_limit, "pids_limit"));
  if (spec.stop_timeout_seconds < 0) {
    return absl::InvalidArgumentError("stop_timeout_seconds is negative");
  }
  return absl::OkStatus();
}

// Adds `binding` to the request's ExposedPorts and HostConfig.PortBindings. INVALID_ARGUMENT
// for a protocol other than tcp or udp, or a port outside 1-65535 (host port 0: any).
absl::Status AddPortBinding(const PortBinding& binding, engine::CreateRequest* request) {
  if (binding.protocol != "tcp" && binding.protocol != "udp") {
    return absl::InvalidArgumentError(absl::StrCat("port ", binding.container_port, ": protocol '",
                                                   binding.protocol, "' is neither tcp nor udp"));
  }
  if (binding.container_port == 0 || binding.container_port > 65535 || binding.host_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port binding out of range: ", binding.container_port, " -> ", binding.host_port));
  }
  const std::string key = PortKey(binding);
  (*request->mutable_exposed_ports())[key];
  pb::Struct host_binding;
  (*host_binding.mutable_fields())["HostIp"].set_string_value(binding.host_ip);
  (*host_binding.mutable_fields())["HostPort"].set_string_value(
      binding.host_port == 0 ? "" : absl::StrCat(binding.host_port));
  *(*request->mutable_host_config()->mutable_port_bindings()->mutable_fields())[key]
       .mutable_list_value()
       ->add_values()
       ->mutable_struct_value() = std::move(host_binding);
  return absl::OkStatus();
}

// Adds `volume` to `host` as a mount of a local volume on tmpfs. INVALID_ARGUMENT for a target
// that is not an absolute path or a size that is not positive and exact.
absl::Status AddTmpfsVolume(const TmpfsVolume& volume, engine::CreateHostConfig* host) {
  if (volume.target.empty() || volume.target[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("tmpfs volume target '", volume.target, "' is not an absolute path"));
  }
  if (volume.size_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tmpfs volume at ", volume.target, " has no size"));
  }
  RETURN_IF_ERROR(CheckQuantity(volume.size_bytes, "tmpfs volume size"));
  engine::Mount* mount = host->add_mounts();
  mount->set_type("volume");
  mount->set_target(volume.target);
  engine::MountVolumeOptions* options = mount->mutable_volume_options();
  // The image's files at the target are not copied in: the volume starts empty.
  options->set_no_copy(true);
  options->mutable_labels()->insert(volume.labels.begin(), volume.labels.end());
  engine::MountDriverConfig* driver = options->mutable_driver_config();
  driver->set_name("local");
  (*driver->mutable_options())["type"] = "tmpfs";
  (*driver->mutable_options())["device"] = "tmpfs";
  // No devices, set-id programs or executables the box leaves there count on the host, and
  // its inodes are bounded too (an empty file costs no size).
  (*driver->mutable_options())["o"] =
      absl::StrCat("size=", volume.size_bytes, ",mode=", volume.mode,
                   ",nr_inodes=", volume.max_inodes, ",nodev,nosuid,noexec");
  return absl::OkStatus();
}

// Copies the fields of `spec` that need no checking into `host`: devices, capabilities,
// security options, tmpfs and resource limits.
void SetHostSettings(const ContainerSpec& spec, engine::CreateHostConfig* host) {
  for (const DeviceMapping& device : spec.devices) {
    engine::DeviceMapping* out = host->add_devices();
    out->set_path_on_host(device.path_on_host);
    out->set_path_in_container(device.path_in_container);
    out->set_cgroup_permissions(device.cgroup_permissions);
  }
  *host->mutable_cap_add() = {spec.cap_add.begin(), spec.cap_add.end()};
  *host->mutable_cap_drop() = {spec.cap_drop.begin(), spec.cap_drop.end()};
  *host->mutable_security_opt() = {spec.security_opt.begin(), spec.security_opt.end()};
  host->set_shm_size(static_cast<double>(spec.shm_size_bytes));
  host->mutable_tmpfs()->insert(spec.tmpfs.begin(), spec.tmpfs.end());
  host->set_memory(static_cast<double>(spec.memory_bytes));
  host->set_nano_cpus(static_cast<double>(spec.nano_cpus));
  host->set_pids_limit(static_cast<double>(spec.pids_limit));
}

}  // namespace

absl::StatusOr<std::string> CreateRequestBody(const ContainerSpec& spec) {
  RETURN_IF_ERROR(CheckSpecScalars(spec));
  engine::CreateRequest request;
  request.set_image(spec.image);
  *request.mutable_cmd() = {spec.cmd.begin(), spec.cmd.end()};
  *request.mutable_env() = {spec.env.begin(), spec.env.end()};
  request.mutable_labels()->insert(spec.labels.begin(), spec.labels.end());
  request.set_stop_signal(spec.stop_signal);
  request.set_stop_timeout(spec.stop_timeout_seconds);

  engine::CreateHostConfig* host = request.mutable_host_config();
  for (const PortBinding& binding : spec.ports) {
    RETURN_IF_ERROR(AddPortBinding(binding, &request));
  }
  *host->mutable_binds() = {spec.binds.begin(), spec.binds.end()};
  for (const TmpfsVolume& volume : spec.tmpfs_volumes) {
    RETURN_IF_ERROR(AddTmpfsVolume(volume, host));
  }
  SetHostSettings(spec, host);
  return Print(request);
}

absl::StatusOr<std::string> ParseCreateResponse(absl::string_view json) {
  engine::CreateResponse response;
  RETURN_IF_ERROR(Parse(json, "create response", &response));
  if (response.id().empty()) return absl::InvalidArgumentError("create response has no Id");
  return response.id();
}

absl::StatusOr<ContainerInfo> ParseInspectResponse(absl::string_view json) {
  engine::InspectResponse response;
  RETURN_IF_ERROR(Parse(json, "inspect response", &response));
  if (response.id().empty()) return absl::InvalidArgumentError("inspect response has no Id");
  ContainerInfo info;
  info.id = response.id();
  info.name = StripSlash(response.name());
  info.image = response.config().image();
  info.labels = {response.config().labels().begin(), response.config().labels().end()};
  const engine::ContainerState& state = response.state();
  info.status = state.status();
  info.running = state.running();
  info.exit_code = state.exit_code();
  info.oom_killed = state.oom_killed();
  info.started_at = ParseDockerTime(state.started_at());
  info.finished_at = ParseDockerTime(state.finished_at());
  ASSIGN_OR_RETURN(info.ports, ParsePortBindings(response.host_config().port_bindings()));
  info.devices = ToDevices(response.host_config().devices());
  info.env = {response.config().env().begin(), response.config().env().end()};
  for (const engine::InspectMount& mount : response.mounts()) {
    info.mounts.push_back({mount.type(), mount.name(), mount.source(), mount.destination()});
  }
  return info;
}

absl::StatusOr<std::vector<ContainerSummary>> ParseListResponse(absl::string_view json) {
  engine::ListResponse response;
  RETURN_IF_ERROR(
      Parse(absl::StrCat("{\"containers\":", json, "}"), "container list", &response));
  std::vector<ContainerSummary> containers;
  for (const engine::ContainerSummary& in : response.containers()) {
    ContainerSummary summary;
    summary.id = in.id();
    for (const std::string& name : in.names()) summary.names.push_back(StripSlash(name));
    summary.labels = {in.labels().begin(), in.labels().end()};
    summary.state = in.state();
    // Docker leaves SizeRw out without ?size=true (and for a layer with nothing in it).
    summary.size_rw = in.size_rw();
    containers.push_back(std::move(summary));
  }
  return containers;
}

absl::StatusOr<std::vector<std::string>> ParseVolumeListResponse(absl::string_view json) {
  engine::VolumeListResponse response;
  RETURN_IF_ERROR(Parse(json, "volume list", &response));
  std::vector<std::string> names;
  for (const engine::Volume& volume : response.volumes()) names.push_back(volume.name());
  return names;
}

absl::StatusOr<std::string> ParseVersionResponse(absl::string_view json) {
  engine::VersionResponse response;
  RETURN_IF_ERROR(Parse(json, "version response", &response));
  if (response.api_version().empty()) {
    return absl::InvalidArgumentError("version response has no ApiVersion");
  }
  return response.api_version();
}

absl::StatusOr<Event> ParseEvent(absl::string_view json) {
  engine::EventMessage message;
  RETURN_IF_ERROR(Parse(json, "event", &message));
  Event event;
  event.type = message.type();
  event.action = message.action();
  event.actor_id = message.actor().id();
  event.attributes = {message.actor().attributes().begin(),
                      message.actor().attributes().end()};
  event.time = message.time_nano() != 0 ? absl::FromUnixNanos(message.time_nano())
                                        : absl::FromUnixSeconds(message.time());
  return event;
}

std::optional<std::string> ParseErrorMessage(absl::string_view json) {
  engine::ErrorResponse response;
  if (!Parse(json, "error", &response).ok() || response.message().empty()) return std::nullopt;
  return response.message();
}

std::string FiltersJson(const EventFilters& filters) {
  // Written by hand (not as a Struct) so that names come out in order.
  auto quote = [](const std::string& text) {
    pb::Value value;
    value.set_string_value(text);
    std::string json;
    (void)pb::util::MessageToJsonString(value, &json);  // a string Value always encodes
    return json;
  };
  std::string json = "{";
  for (const auto& [name, values] : filters) {
    if (json.size() > 1) json.push_back(',');
    absl::StrAppend(&json, quote(name), ":[");
    for (size_t i = 0; i < values.size(); ++i) {
      absl::StrAppend(&json, i > 0 ? "," : "", quote(values[i]));
    }
    json.push_back(']');
  }
  json.push_back('}');
  return json;
}

absl::StatusOr<int> CompareApiVersions(absl::string_view a, absl::string_view b) {
  auto parse = [](absl::string_view text) -> absl::StatusOr<std::pair<int, int>> {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(text, absl::MaxSplits('.', 1));
    std::pair<int, int> version;
    if (!absl::SimpleAtoi(parts.first, &version.first) ||
        !absl::SimpleAtoi(parts.second, &version.second)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed API version '", text, "'"));
    }
    return version;
  };
  ASSIGN_OR_RETURN(auto left, parse(a));
  ASSIGN_OR_RETURN(auto right, parse(b));
  if (left == right) return 0;
  return left < right ? -1 : 1;
}

}  // namespace berth::docker::engine_json
