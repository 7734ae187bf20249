// engine_wire.h, the answers, in Docker's JSON shapes.
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/fake_dockerd/engine_wire.h"
#include "bench/fake_dockerd/json_writer.h"

namespace berth::fake_dockerd {
namespace {

std::string PortKey(const docker::PortBinding& port) {
  return absl::StrCat(port.container_port, "/", port.protocol);
}

// The "State" text of a list entry.
std::string StatusText(const docker::ContainerInfo& info) {
  if (info.running) return "Up";
  if (info.status == "created") return "Created";
  return absl::StrCat("Exited (", info.exit_code, ")");
}

// The chained calls are indented as the JSON they write.
// clang-format off
void WriteMounts(JsonWriter& json, const std::vector<docker::MountPoint>& mounts) {
  json.BeginArray();
  for (const docker::MountPoint& mount : mounts) {
    json.BeginObject()
        .Key("Type").String(mount.type)
        .Key("Name").String(mount.name)
        .Key("Source").String(mount.source)
        .Key("Destination").String(mount.destination)
        .Key("Driver").String(mount.type == "volume" ? "local" : "")
        .Key("Mode").String(mount.type == "volume" ? "z" : "")
        .Key("RW").Bool(true)
        .Key("Propagation").String("")
        .EndObject();
  }
  json.EndArray();
}
// clang-format on

std::string Line(JsonWriter& json) { return json.Release() + "\n"; }

}  // namespace

std::string DockerTime(absl::Time time) {
  if (time == absl::InfinitePast()) return "0001-01-01T00:00:00Z";
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

std::string ErrorJson(absl::string_view message) {
  JsonWriter json;
  json.BeginObject().Key("message").String(message).EndObject();
  return Line(json);
}

// The chained calls are indented as the JSON they write.
// clang-format off
std::string VersionJson() {
  JsonWriter json;
  json.BeginObject()
      .Key("Platform").BeginObject().Key("Name").String("fake_dockerd").EndObject()
      .Key("Components").BeginArray()
          .BeginObject()
              .Key("Name").String("Engine")
              .Key("Version").String("20.10.24")
              .Key("Details").BeginObject()
                  .Key("ApiVersion").String(kApiVersion)
                  .Key("MinAPIVersion").String(kMinApiVersion)
              .EndObject()
          .EndObject()
      .EndArray()
      .Key("Version").String("20.10.24")
      .Key("ApiVersion").String(kApiVersion)
      .Key("MinAPIVersion").String(kMinApiVersion)
      .Key("GitCommit").String("fake")
      .Key("GoVersion").String("")
      .Key("Os").String("linux")
      .Key("Arch").String("amd64")
      .Key("KernelVersion").String("")
      .Key("BuildTime").String("")
      .EndObject();
  return Line(json);
}
// clang-format on

std::string CreatedJson(absl::string_view id) {
  JsonWriter json;
  json.BeginObject().Key("Id").String(id).Key("Warnings").BeginArray().EndArray().EndObject();
  return Line(json);
}

// The chained calls are indented as the JSON they write.
// clang-format off
std::string InspectJson(const docker::ContainerInfo& info) {
  std::map<std::string, std::vector<const docker::PortBinding*>> bindings;
  for (const docker::PortBinding& port : info.ports) bindings[PortKey(port)].push_back(&port);
  JsonWriter json;
  json.BeginObject()
      .Key("Id").String(info.id)
      .Key("Name").String(absl::StrCat("/", info.name))
      .Key("Image").String(info.image)
      .Key("RestartCount").Int(0)
      .Key("State").BeginObject()
          .Key("Status").String(info.status)
          .Key("Running").Bool(info.running)
          .Key("Paused").Bool(false)
          .Key("Restarting").Bool(false)
          .Key("OOMKilled").Bool(info.oom_killed)
          .Key("Dead").Bool(false)
          .Key("Pid").Int(0)
          .Key("ExitCode").Int(info.exit_code)
          .Key("Error").String("")
          .Key("StartedAt").String(DockerTime(info.started_at))
          .Key("FinishedAt").String(DockerTime(info.finished_at))
      .EndObject();
  json.Key("HostConfig").BeginObject().Key("PortBindings").BeginObject();
  for (const auto& [key, ports] : bindings) {
    json.Key(key).BeginArray();
    for (const docker::PortBinding* port : ports) {
      json.BeginObject()
          .Key("HostIp").String(port->host_ip)
          .Key("HostPort").String(port->host_port == 0 ? "" : absl::StrCat(port->host_port))
          .EndObject();
    }
    json.EndArray();
  }
  json.EndObject().Key("Devices").BeginArray();
  for (const docker::DeviceMapping& device : info.devices) {
    json.BeginObject()
        .Key("PathOnHost").String(device.path_on_host)
        .Key("PathInContainer").String(device.path_in_container)
        .Key("CgroupPermissions").String(device.cgroup_permissions)
        .EndObject();
  }
  json.EndArray().EndObject();
  json.Key("Mounts");
  WriteMounts(json, info.mounts);
  json.Key("Config").BeginObject()
      .Key("Image").String(info.image)
      .Key("Env").StringArray(info.env, /*empty_is_null=*/true)
      .Key("Labels").StringMap(info.labels)
      .EndObject();
  json.EndObject();
  return Line(json);
}
// clang-format on

// The chained calls are indented as the JSON they write.
// clang-format off
std::string ContainerListJson(const std::vector<ListedContainer>& containers) {
  JsonWriter json;
  json.BeginArray();
  for (const ListedContainer& container : containers) {
    const docker::ContainerInfo& info = container.info;
    json.BeginObject()
        .Key("Id").String(info.id)
        .Key("Names").StringArray({absl::StrCat("/", info.name)})
        .Key("Image").String(info.image)
        .Key("Ports").BeginArray();
    if (info.running) {
      for (const docker::PortBinding& port : info.ports) {
        json.BeginObject()
            .Key("IP").String(port.host_ip.empty() ? "0.0.0.0" : port.host_ip)
            .Key("PrivatePort").Int(port.container_port)
            .Key("PublicPort").Int(port.host_port)
            .Key("Type").String(port.protocol)
            .EndObject();
      }
    }
    json.EndArray()
        .Key("Labels").StringMap(info.labels)
        .Key("State").String(info.status)
        .Key("Status").String(StatusText(info));
    if (container.size_rw.has_value()) {
      json.Key("SizeRw").Int(*container.size_rw).Key("SizeRootFs").Int(*container.size_rw);
    }
    json.Key("Mounts");
    WriteMounts(json, info.mounts);
    json.EndObject();
  }
  json.EndArray();
  return Line(json);
}
// clang-format on

// The chained calls are indented as the JSON they write.
// clang-format off
std::string VolumeListJson(const std::vector<std::string>& names) {
  JsonWriter json;
  json.BeginObject().Key("Volumes").BeginArray();
  for (const std::string& name : names) {
    json.BeginObject()
        .Key("Name").String(name)
        .Key("Driver").String("local")
        .Key("Scope").String("local")
        .EndObject();
  }
  json.EndArray().Key("Warnings").Null().EndObject();
  return Line(json);
}
// clang-format on

// The chained calls are indented as the JSON they write.
// clang-format off
std::string EventJson(const docker::Event& event) {
  JsonWriter json;
  json.BeginObject();
  if (event.type == "container") {
    auto image = event.attributes.find("image");
    json.Key("status").String(event.action)
        .Key("id").String(event.actor_id)
        .Key("from").String(image == event.attributes.end() ? "" : image->second);
  }
  json.Key("Type").String(event.type)
      .Key("Action").String(event.action)
      .Key("Actor").BeginObject()
          .Key("ID").String(event.actor_id)
          .Key("Attributes").StringMap(event.attributes)
      .EndObject()
      .Key("scope").String("local")
      .Key("time").Int(absl::ToUnixSeconds(event.time))
      .Key("timeNano").Int(absl::ToUnixNanos(event.time))
      .EndObject();
  return Line(json);
}
// clang-format on

}  // namespace berth::fake_dockerd
