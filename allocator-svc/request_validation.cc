#include "allocator-svc/request_validation.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/status_macros.h"

namespace berth::allocator {
namespace {

absl::Status ValidatePort(uint32_t port, absl::string_view field) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", port, " is outside 1-65535"));
  }
  return absl::OkStatus();
}

absl::Status ValidateProtocol(v1::Protocol protocol, absl::string_view field) {
  if (protocol != v1::PROTOCOL_TCP && protocol != v1::PROTOCOL_UDP) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be PROTOCOL_TCP or PROTOCOL_UDP, not ",
                     v1::Protocol_IsValid(protocol) ? v1::Protocol_Name(protocol)
                                                    : absl::StrCat(static_cast<int>(protocol))));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ProtocolName(v1::Protocol protocol) {
  return protocol == v1::PROTOCOL_UDP ? "udp" : "tcp";
}

absl::Status ValidateReserveRequest(const v1::ReserveRequest& request,
                                    const common::IntRange& port_range) {
  RETURN_IF_ERROR(common::ValidateBoxId(request.box_id()));
  if (request.ports_size() > kMaxPortsPerLease) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ports: ", request.ports_size(), " requested; at most ", kMaxPortsPerLease, " per box"));
  }
  std::set<std::pair<int, uint32_t>> container_ports;
  std::set<std::pair<int, uint32_t>> fixed_host_ports;
  for (int i = 0; i < request.ports_size(); ++i) {
    const v1::PortRequest& port = request.ports(i);
    const std::string field = absl::StrCat("ports[", i, "]");
    RETURN_IF_ERROR(ValidateProtocol(port.protocol(), absl::StrCat(field, ".protocol")));
    RETURN_IF_ERROR(ValidatePort(port.container_port(), absl::StrCat(field, ".container_port")));
    if (!container_ports.emplace(port.protocol(), port.container_port()).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": container port ",
                                                     port.container_port(), "/",
                                                     ProtocolName(port.protocol()), " is listed twice"));
    }
    if (port.host_port() == 0) continue;
    if (!port_range.Contains(port.host_port())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".host_port ", port.host_port(), " is outside the host port pool ",
          port_range.begin, "-", port_range.end, " (end exclusive); use 0 for any port"));
    }
    if (!fixed_host_ports.emplace(port.protocol(), port.host_port()).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": host port ", port.host_port(), "/",
                                                     ProtocolName(port.protocol()),
                                                     " is requested twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBindRequest(const v1::BindRequest& request) {
  RETURN_IF_ERROR(common::ValidateBoxId(request.box_id()));
  const std::string& id = request.container_id();
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("container_id must be 1-128 characters, not ", id.size()));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("container_id \"", absl::CHexEscape(id), "\" is not alphanumeric"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateReconcileRequest(const v1::ReconcileRequest& request) {
  std::set<std::string> seen;
  for (int i = 0; i < request.live_boxes_size(); ++i) {
    const v1::LiveBox& box = request.live_boxes(i);
    const std::string field = absl::StrCat("live_boxes[", i, "]");
    absl::Status id_status = common::ValidateBoxId(box.box_id());
    if (!id_status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", id_status.message()));
    }
    if (!seen.insert(box.box_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": box ", box.box_id(), " is listed twice"));
    }
    std::set<std::pair<int, uint32_t>> host_ports;
    for (int j = 0; j < box.ports_size(); ++j) {
      const v1::PortBinding& port = box.ports(j);
      const std::string port_field = absl::StrCat(field, ".ports[", j, "]");
      RETURN_IF_ERROR(ValidateProtocol(port.protocol(), absl::StrCat(port_field, ".protocol")));
      RETURN_IF_ERROR(ValidatePort(port.container_port(), absl::StrCat(port_field, ".container_port")));
      RETURN_IF_ERROR(ValidatePort(port.host_port(), absl::StrCat(port_field, ".host_port")));
      if (!host_ports.insert({port.protocol(), port.host_port()}).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            port_field, ": ", v1::Protocol_Name(port.protocol()), " host port ", port.host_port(),
            " is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::allocator
