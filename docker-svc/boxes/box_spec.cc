#include "docker-svc/boxes/box_spec.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/box_id.h"
#include "docker-svc/boxes/app_profiles.h"
#include "google/protobuf/util/message_differencer.h"

namespace berth::docker {
namespace {

using allocator::v1::PROTOCOL_UDP;

constexpr size_t kMaxIdentityLength = 256;
constexpr size_t kMaxEnvValueLength = 32 * 1024;
constexpr uint32_t kMaxDpi = 1200;
constexpr int64_t kMaxTtlSeconds = 365LL * 24 * 3600;
constexpr char kTtyPrefix[] = "/dev/tty";
constexpr char kGpuEnv[] = "NVIDIA_VISIBLE_DEVICES";


// Reads exactly `size` random bytes from the kernel.
void RandomBytes(unsigned char* out, size_t size) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  size_t done = 0;
  while (fd >= 0 && done < size) {
    ssize_t n = read(fd, out + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (fd >= 0) close(fd);
  if (done < size) {
    // /dev/urandom cannot fail on Linux once open; this only guards against a broken /dev.
    std::random_device device;
    for (; done < size; ++done) out[done] = static_cast<unsigned char>(device());
  }
}

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex;
  for (size_t i = 0; i < size; ++i) absl::StrAppendFormat(&hex, "%02x", bytes[i]);
  return hex;
}

}  // namespace

absl::Status ValidateIdentity(absl::string_view field, absl::string_view value) {
  if (value.size() > kMaxIdentityLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " characters long; at most ",
                     kMaxIdentityLength, " are allowed"));
  }
  for (char c : value) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " may hold only printable ASCII characters without spaces"));
    }
  }
  return absl::OkStatus();
}

std::string ContainerName(const std::string& box_id) { return absl::StrCat("berth-", box_id); }

std::string OwnerLabelFilter(const std::string& boxes_dir) {
  return absl::StrCat(kBoxesDirLabel, "=", boxes_dir);
}

absl::Status ValidateCreateRequest(const box::v1::CreateRequest& request,
                                   const box::v1::AppProfile* profile,
                                   const std::string& known_apps) {
  if (request.app().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("app is required; this host serves: ",
                                                   known_apps));
  }
  if (profile == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown app \"", request.app(),
                                                   "\"; this host serves: ", known_apps));
  }
  if (!request.box_id().empty()) {
    if (absl::Status valid = common::ValidateBoxId(request.box_id()); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("box_id: ", valid.message()));
    }
  }
  if (absl::Status valid = ValidateIdentity("user_id", request.user_id()); !valid.ok()) {
    return valid;
  }
  if (absl::Status valid = ValidateIdentity("session_id", request.session_id()); !valid.ok()) {
    return valid;
  }
  if (request.dpi() > kMaxDpi) {
    return absl::InvalidArgumentError(
        absl::StrCat("dpi ", request.dpi(), " is out of range (0-", kMaxDpi, ")"));
  }
  for (const auto& [key, value] : request.env()) {
    const auto& allowed = profile->overridable_env();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "env: app \"", profile->name(), "\" does not let a request set \"", key, "\""));
    }
    if (value.size() > kMaxEnvValueLength || absl::StrContains(value, '\0')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "env: the value of ", key, " must be at most ", kMaxEnvValueLength,
          " bytes without NUL characters"));
    }
  }
  const google::protobuf::Duration& ttl = request.ttl();
  if (ttl.seconds() < 0 || ttl.nanos() < 0 || ttl.nanos() >= 1000000000 ||
      ttl.seconds() > kMaxTtlSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl must lie between 0 and ", kMaxTtlSeconds, " seconds"));
  }
  return absl::OkStatus();
}

bool SameBoxRequest(const box::v1::CreateRequest& original, const box::v1::CreateRequest& retry) {
  box::v1::CreateRequest a = original;
  box::v1::CreateRequest b = retry;
  a.set_wait_for_ready(false);
  b.set_wait_for_ready(false);
  // A retry of a create that generated the id may name it or not.
  b.set_box_id(a.box_id());
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

allocator::v1::ReserveRequest ReserveRequestFor(const box::v1::AppProfile& profile,
                                                const std::string& box_id) {
  allocator::v1::ReserveRequest request;
  request.set_box_id(box_id);
  for (const box::v1::ContainerPort& port : profile.ports()) {
    allocator::v1::PortRequest* wanted = request.add_ports();
    wanted->set_container_port(port.port());
    wanted->set_protocol(port.protocol());
  }
  request.set_tty(profile.tty());
  request.set_gpu(profile.gpu());
  return request;
}

TmpfsVolume MappingVolume(const box::v1::AppProfile& profile, const std::string& box_id,
                          const std::string& boxes_dir) {
  TmpfsVolume volume;
  volume.target = profile.mappings_dir();
  volume.size_bytes = static_cast<int64_t>(
      profile.mapping_dir_bytes() > 0 ? profile.mapping_dir_bytes() : kDefaultMappingDirBytes);
  volume.mode = "0777";
  volume.labels = {{kBoxIdLabel, box_id}, {kBoxesDirLabel, boxes_dir}};
  return volume;
}

std::optional<MountPoint> MappingMountOf(const ContainerInfo& info,
                                         const std::string& mappings_dir) {
  for (const MountPoint& mount : info.mounts) {
    if (mount.destination == mappings_dir && !mount.source.empty()) return mount;
  }
  return std::nullopt;
}

std::optional<std::string> MappingDirOf(const ContainerInfo& info,
                                        const std::string& mappings_dir) {
  std::optional<MountPoint> mount = MappingMountOf(info, mappings_dir);
  if (!mount.has_value()) return std::nullopt;
  return mount->source;
}

ContainerSpec ContainerSpecFor(const box::v1::AppProfile& profile,
                               const internal::BoxRecord& record, const std::string& boxes_dir) {
  const box::v1::Box& box = record.box();
  ContainerSpec spec;
  spec.name = ContainerName(box.box_id());
  spec.image = profile.image();
  spec.cmd.assign(profile.cmd().begin(), profile.cmd().end());

  // The profile's env, then what the request may override, then what Berth itself sets.
  std::map<std::string, std::string> env(profile.env().begin(), profile.env().end());
  for (const auto& [key, value] : record.request().env()) env[key] = value;
  env[kBoxIdEnv] = box.box_id();
  if (!profile.aes_key_env().empty()) env[profile.aes_key_env()] = record.aes_key();
  if (box.gpu_index() >= 0) env[kGpuEnv] = absl::StrCat(box.gpu_index());
  for (const auto& [key, value] : env) spec.env.push_back(absl::StrCat(key, "=", value));

  spec.labels = {{kBoxIdLabel, box.box_id()},
                 {kAppLabel, box.app()},
                 {kUserIdLabel, box.user_id()},
                 {kSessionIdLabel, box.session_id()},
                 {kBoxesDirLabel, boxes_dir}};
  if (record.created_by_user()) spec.labels[kCreatedByUserLabel] = "true";
  if (box.ttl().seconds() > 0) spec.labels[kTtlLabel] = absl::StrCat(box.ttl().seconds());
  for (const allocator::v1::PortBinding& port : box.ports()) {
    spec.ports.push_back({port.container_port(), port.protocol() == PROTOCOL_UDP ? "udp" : "tcp",
                          port.host_port(), ""});
  }
  for (const box::v1::BindMount& bind : profile.binds()) {
    spec.binds.push_back(absl::StrCat(bind.host_path(), ":", bind.container_path(),
                                      bind.read_only() ? ":ro" : ""));
  }
  spec.tmpfs_volumes.push_back(MappingVolume(profile, box.box_id(), boxes_dir));
  for (const box::v1::Device& device : profile.devices()) {
    spec.devices.push_back(
        {device.host_path(),
         device.container_path().empty() ? device.host_path() : device.container_path(),
         device.permissions().empty() ? "rwm" : device.permissions()});
  }
  if (box.tty() >= 0) {
    const std::string tty = absl::StrCat(kTtyPrefix, box.tty());
    spec.devices.push_back({tty, tty, "rwm"});
  }
  spec.cap_add.assign(profile.cap_add().begin(), profile.cap_add().end());
  spec.cap_drop.assign(profile.cap_drop().begin(), profile.cap_drop().end());
  spec.security_opt.assign(profile.security_opt().begin(), profile.security_opt().end());
  spec.shm_size_bytes = static_cast<int64_t>(profile.shm_size_bytes());
  spec.tmpfs.insert(profile.tmpfs().begin(), profile.tmpfs().end());
  spec.memory_bytes = static_cast<int64_t>(profile.memory_bytes());
  spec.nano_cpus = static_cast<int64_t>(profile.cpus() * 1e9);
  spec.pids_limit = profile.pids_limit();
  spec.stop_signal = "SIGTERM";
  spec.stop_timeout_seconds = static_cast<int32_t>(profile.stop_grace_seconds());
  return spec;
}

allocator::v1::LiveBox LiveBoxOf(const std::string& box_id, const ContainerInfo& info) {
  allocator::v1::LiveBox live;
  live.set_box_id(box_id);
  live.set_container_id(info.id);
  for (const PortBinding& port : info.ports) {
    allocator::v1::PortBinding* binding = live.add_ports();
    binding->set_container_port(port.container_port);
    binding->set_protocol(port.protocol == "udp" ? PROTOCOL_UDP : allocator::v1::PROTOCOL_TCP);
    binding->set_host_port(port.host_port);
  }
  live.set_tty(-1);
  for (const DeviceMapping& device : info.devices) {
    absl::string_view path = device.path_on_host;
    int32_t tty = -1;
    if (absl::ConsumePrefix(&path, kTtyPrefix) && absl::SimpleAtoi(path, &tty) && tty >= 0) {
      live.set_tty(tty);
    }
  }
  live.set_gpu_index(-1);
  for (const std::string& entry : info.env) {
    absl::string_view value = entry;
    int32_t gpu = -1;
    if (absl::ConsumePrefix(&value, absl::StrCat(kGpuEnv, "=")) && absl::SimpleAtoi(value, &gpu)) {
      live.set_gpu_index(gpu);
    }
  }
  return live;
}

std::optional<std::string> BoxIdOf(const std::map<std::string, std::string>& labels) {
  auto it = labels.find(kBoxIdLabel);
  if (it == labels.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string NewBoxId() {
  unsigned char bytes[16];
  RandomBytes(bytes, sizeof(bytes));
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = Hex(bytes, sizeof(bytes));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

std::string NewAesKey() {
  unsigned char bytes[16];
  RandomBytes(bytes, sizeof(bytes));
  return Hex(bytes, sizeof(bytes));
}

}  // namespace berth::docker
