#include "tests/prometheus_server.h"

#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/testing/read_file.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "testing_support/box_host.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

// The targets of the shipped config: the --metrics_listen of the shipped flag files.
constexpr char kShippedAllocator[] = "127.0.0.1:9741";
constexpr char kShippedDocker[] = "127.0.0.1:9742";
constexpr char kShippedGateway[] = "127.0.0.1:9743";

std::string PrometheusDir() { return absl::StrCat(SourceDir(), "/deploy/prometheus"); }

// The absolute path of `program` on $PATH; "" when it is not there.
std::string OnPath(const std::string& program) {
  const char* path = getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Percent-encodes everything but RFC 3986's unreserved characters (a query parameter's value).
std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(absl::StrCat(absl::Hex(c, absl::kZeroPad2))));
    }
  }
  return out;
}

// The field `key` of `object`; nullptr when absent.
const Value* Field(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? nullptr : &it->second;
}

// One element of a vector result: {"metric":{...},"value":[<time>,"<value>"]}.
absl::StatusOr<PromSample> ParseSample(const Value& element) {
  const Value* metric = Field(element.struct_value(), "metric");
  const Value* value = Field(element.struct_value(), "value");
  if (metric == nullptr || value == nullptr || value->list_value().values_size() != 2) {
    return absl::InternalError("a vector element without metric and [time, value]");
  }
  PromSample sample;
  for (const auto& [name, label] : metric->struct_value().fields()) {
    sample.labels[name] = label.string_value();
  }
  const std::string& text = value->list_value().values(1).string_value();
  if (!absl::SimpleAtod(text, &sample.value)) {
    return absl::InternalError(absl::StrCat("not a number: \"", text, "\""));
  }
  return sample;
}

}  // namespace

absl::StatusOr<std::string> BerthScrapeConfigFor(const ScrapeTargets& targets) {
  absl::StatusOr<std::string> config = common::ReadFile(PrometheusDir() + "/berth.yml");
  if (!config.ok()) return config.status();
  for (const auto& [shipped, ours] :
       {std::pair<std::string, std::string>{kShippedAllocator, targets.allocator},
        {kShippedDocker, targets.docker},
        {kShippedGateway, targets.gateway}}) {
    const std::string quoted = absl::StrCat("\"", shipped, "\"");
    const size_t at = config->find(quoted);
    if (at == std::string::npos || config->find(quoted, at + 1) != std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("deploy/prometheus/berth.yml names ", quoted, " not exactly once"));
    }
    config->replace(at, quoted.size(), absl::StrCat("\"", ours, "\""));
  }
  return config;
}

std::string DescribeSamples(const std::vector<PromSample>& samples) {
  if (samples.empty()) return "(no sample)";
  std::vector<std::string> lines;
  for (const PromSample& sample : samples) {
    std::string name;
    std::vector<std::string> labels;
    for (const auto& [key, value] : sample.labels) {
      if (key == "__name__") {
        name = value;
      } else {
        labels.push_back(absl::StrCat(key, "=\"", value, "\""));
      }
    }
    lines.push_back(absl::StrCat(name, "{", absl::StrJoin(labels, ","), "} ", sample.value));
  }
  return absl::StrJoin(lines, "\n");
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(const std::string& dir,
                                                                          const std::string& config,
                                                                          absl::Duration timeout) {
  const std::string binary = OnPath("prometheus");
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "prometheus is not installed (package prometheus: scripts/install-deps.sh)");
  }
  absl::StatusOr<std::string> rules = common::ReadFile(PrometheusDir() + "/berth-rules.yml");
  if (!rules.ok()) return rules.status();
  if (absl::Status written = common::WriteFileAtomically(dir + "/berth-rules.yml", *rules);
      !written.ok()) {
    return written;
  }
  if (absl::Status written = common::WriteFileAtomically(dir + "/berth.yml", config);
      !written.ok()) {
    return written;
  }
  std::unique_ptr<PrometheusServer> server(new PrometheusServer());
  server->port_ = FreeTcpPort();
  if (server->port_ == 0) return absl::UnavailableError("no free TCP port");
  server->log_path_ = dir + "/prometheus.log";
  DaemonProcess::Options options;
  options.binary = binary;
  options.args = {absl::StrCat("--config.file=", dir, "/berth.yml"),
                  absl::StrCat("--storage.tsdb.path=", dir, "/data"),
                  absl::StrCat("--web.listen-address=127.0.0.1:", server->port_)};
  options.log_path = server->log_path_;
  absl::StatusOr<std::unique_ptr<DaemonProcess>> process = DaemonProcess::Start(options);
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (server->Get("/-/ready").ok()) return server;
    if (absl::StatusOr<int> exited = server->process_->Wait(absl::ZeroDuration()); exited.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "prometheus exited with code ", *exited, " before it was ready; log:\n", server->Log()));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "prometheus not ready after ", absl::FormatDuration(timeout), "; log:\n", server->Log()));
}

PrometheusServer::~PrometheusServer() {
  if (process_ != nullptr) process_->Kill();
}

std::string PrometheusServer::base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::string PrometheusServer::Log() const { return ReadFileOrEmpty(log_path_); }

absl::StatusOr<std::string> PrometheusServer::Get(const std::string& path) const {
  HttpResult result = Curl(base_url(), ::berth::testing::Get(path), {}, absl::Seconds(10));
  if (result.status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": ", result.Describe()));
  }
  return result.body;
}

absl::StatusOr<std::vector<PromSample>> PrometheusServer::Query(const std::string& promql) const {
  absl::StatusOr<std::string> body = Get(absl::StrCat("/api/v1/query?query=", UrlEncode(promql)));
  if (!body.ok()) return body.status();
  Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(*body, &answer).ok()) {
    return absl::InternalError(absl::StrCat("not JSON: ", *body));
  }
  const Value* data = Field(answer, "data");
  const Value* type = data == nullptr ? nullptr : Field(data->struct_value(), "resultType");
  const Value* result = data == nullptr ? nullptr : Field(data->struct_value(), "result");
  if (type == nullptr || type->string_value() != "vector" || result == nullptr) {
    return absl::InternalError(absl::StrCat(promql, ": not a vector: ", *body));
  }
  std::vector<PromSample> samples;
  for (const Value& element : result->list_value().values()) {
    absl::StatusOr<PromSample> sample = ParseSample(element);
    if (!sample.ok())
      return absl::InternalError(absl::StrCat(sample.status().message(), ": ", *body));
    samples.push_back(*std::move(sample));
  }
  return samples;
}

}  // namespace berth::testing
