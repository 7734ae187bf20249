#ifndef BERTH_GATEWAY_PAGE_HOST_PAGE_SOURCES_H_
#define BERTH_GATEWAY_PAGE_HOST_PAGE_SOURCES_H_

// The host page's source files, embedded verbatim at build time (cmake/EmbedText.cmake).
// Use HostPage() (host_page.h), which assembles them.
namespace berth::gateway::page_sources {

// host_page.html: the document, with the placeholders {{style}} and {{script}}.
extern const char kHtml[];
// host_page.css and host_page.js: what goes in its <style> and <script> elements.
extern const char kCss[];
extern const char kJs[];

}  // namespace berth::gateway::page_sources

#endif  // BERTH_GATEWAY_PAGE_HOST_PAGE_SOURCES_H_
