#ifndef BERTH_COMMON_TESTING_GZIP_H_
#define BERTH_COMMON_TESTING_GZIP_H_

#include <zlib.h>

#include <string>

namespace berth::testing {

// `text` gzip-compressed (as Whist's client sends its config before base64); empty when zlib
// fails. Link ZLIB::ZLIB.
inline std::string Gzip(const std::string& text) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return "";
  }
  std::string out(deflateBound(&stream, text.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const bool done = deflate(&stream, Z_FINISH) == Z_STREAM_END;
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return done ? out : "";
}

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_GZIP_H_
