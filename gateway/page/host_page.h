#ifndef BERTH_GATEWAY_PAGE_HOST_PAGE_H_
#define BERTH_GATEWAY_PAGE_HOST_PAGE_H_

#include <string>

// The host page the gateway serves at GET /: one HTML document with its style and script
// inline, no other resource. Without a backend token (kept in the page's sessionStorage once
// pasted) it only asks for one; with it, it calls GET /v1/host, GET /v1/boxes and
// GET /v1/events with that token and shows the pools' capacity, the boxes and the live events.
namespace berth::gateway {

struct HostPage {
  // The document (UTF-8).
  std::string html;
  // The Content-Security-Policy to serve it with: nothing loads but the inline style and script
  // (allowed by their SHA-256 hashes), requests go only to the page's own origin, no sink takes
  // a string as HTML (Trusted Types), and the page may not be framed.
  std::string content_security_policy;
};

// The page, assembled on first use; thread-safe.
const HostPage& GetHostPage();

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_PAGE_HOST_PAGE_H_
