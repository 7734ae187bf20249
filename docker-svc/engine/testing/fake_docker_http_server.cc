#include "docker-svc/engine/testing/fake_docker_http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/files.h"

namespace berth::docker::testing {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int PollMillis(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  return static_cast<int>(absl::ToInt64Milliseconds(timeout));
}

// Parses a request's head (the request line and headers, without the blank line after them)
// into `request`, and its Content-Length header into `content_length` (left alone when there
// is none). False when the request line or the Content-Length is malformed.
bool ParseHead(absl::string_view head, RecordedRequest* request, size_t* content_length) {
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
  if (request_line.size() != 3) return false;
  request->method = request_line[0];
  request->target = request_line[1];
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<std::string, std::string> header = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    std::string name = absl::AsciiStrToLower(header.first);
    request->headers[name] = std::string(absl::StripAsciiWhitespace(header.second));
  }
  if (auto it = request->headers.find("content-length"); it != request->headers.end()) {
    if (!absl::SimpleAtoi(it->second, content_length)) return false;
  }
  return true;
}

}  // namespace

CannedResponse CannedResponse::Json(int status, std::string body) {
  CannedResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

CannedResponse CannedResponse::Stream(std::vector<std::string> chunks, bool end_stream) {
  CannedResponse response;
  response.chunks = std::move(chunks);
  response.end_stream = end_stream;
  return response;
}

CannedResponse CannedResponse::Hang() {
  CannedResponse response;
  response.never_respond = true;
  return response;
}

absl::StatusOr<std::unique_ptr<FakeDockerHttpServer>> FakeDockerHttpServer::Start(
    const std::string& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError("socket path too long");
  }
  memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(common::ErrnoMessage("socket", errno));
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 16) != 0) {
    std::string message = common::ErrnoMessage(absl::StrCat("bind/listen ", socket_path), errno);
    close(fd);
    return absl::InternalError(message);
  }
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) {
    close(fd);
    return absl::InternalError(common::ErrnoMessage("pipe2", errno));
  }
  std::unique_ptr<FakeDockerHttpServer> server(
      new FakeDockerHttpServer(socket_path, fd, stop[0], stop[1]));
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

FakeDockerHttpServer::FakeDockerHttpServer(std::string socket_path, int listen_fd, int stop_read,
                                           int stop_write)
    : socket_path_(std::move(socket_path)),
      listen_fd_(listen_fd),
      stop_read_(stop_read),
      stop_write_(stop_write) {}

FakeDockerHttpServer::~FakeDockerHttpServer() {
  // The byte is never read, so the pipe stays readable for every waiting thread.
  (void)!write(stop_write_, "x", 1);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
  close(listen_fd_);
  close(stop_read_);
  close(stop_write_);
  unlink(socket_path_.c_str());
}

void FakeDockerHttpServer::Enqueue(CannedResponse response) {
  absl::MutexLock lock(&mu_);
  responses_.push_back(std::move(response));
}

std::vector<RecordedRequest> FakeDockerHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool FakeDockerHttpServer::WaitForRequests(size_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return requests_.size() >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool FakeDockerHttpServer::WaitForStop(absl::Duration timeout) const {
  pollfd stop{stop_read_, POLLIN, 0};
  return poll(&stop, 1, PollMillis(timeout)) > 0;
}

void FakeDockerHttpServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    connection_threads_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
    });
  }
}

void FakeDockerHttpServer::Serve(int fd) {
  RecordedRequest request;
  if (!ReadRequest(fd, &request)) return;
  Respond(fd, TakeResponse(request));
}

bool FakeDockerHttpServer::ReadRequest(int fd, RecordedRequest* request) const {
  // Read the head, then Content-Length bytes of body.
  std::string data;
  size_t head_end = std::string::npos;
  size_t content_length = 0;
  char buffer[4096];
  while (head_end == std::string::npos || data.size() < head_end + 4 + content_length) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
    if (fds[0].revents == 0) continue;
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
      if (!ParseHead(absl::string_view(data).substr(0, head_end), request, &content_length)) {
        return false;
      }
      auto it = request->headers.find("expect");
      if (it != request->headers.end() && absl::EqualsIgnoreCase(it->second, "100-continue") &&
          !WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
        return false;
      }
    }
  }
  request->body = data.substr(head_end + 4, content_length);
  return true;
}

CannedResponse FakeDockerHttpServer::TakeResponse(const RecordedRequest& request) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  if (responses_.empty()) {
    return CannedResponse::Json(
        500, absl::StrCat(R"({"message":"fake docker: no canned response for )", request.method,
                          " ", request.target, R"("})"));
  }
  CannedResponse response = std::move(responses_.front());
  responses_.pop_front();
  return response;
}

void FakeDockerHttpServer::Respond(int fd, const CannedResponse& response) const {
  if (response.never_respond) return Hold(fd);

  std::string head = absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                                  "\r\nContent-Type: ", response.content_type,
                                  "\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)",
                                  "\r\nConnection: close\r\n");
  if (response.chunks.empty()) {
    absl::StrAppend(&head, "Content-Length: ", response.body.size(), "\r\n\r\n", response.body);
    WriteAll(fd, head);
    return;
  }
  absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n\r\n");
  if (!WriteAll(fd, head)) return;
  for (size_t i = 0; i < response.chunks.size(); ++i) {
    if (i > 0 && response.chunk_delay > absl::ZeroDuration() &&
        WaitForStop(response.chunk_delay)) {
      return;
    }
    const std::string& chunk = response.chunks[i];
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    if (!WriteAll(fd, absl::StrCat(size, chunk, "\r\n"))) return;
  }
  if (!response.end_stream) return Hold(fd);
  WriteAll(fd, "0\r\n\r\n");
}

void FakeDockerHttpServer::Hold(int fd) const {
  char buffer[4096];
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0 && recv(fd, buffer, sizeof(buffer), 0) <= 0) return;
  }
}

}  // namespace berth::docker::testing
