// Incremental multipart/form-data splitting (see multipart.h).
//
// The stream is searched for the delimiter CRLF "--" boundary (RFC 2046
// 5.1.1). The body is primed with a virtual CRLF so that a delimiter at the
// very start (no preamble) is found by the same search. Part bytes are handed
// to the sink as soon as they cannot be the start of a delimiter: only the
// last delimiter-length - 1 bytes are ever held back.
#include "gateway/http/multipart.h"

#include <algorithm>
#include <cctype>

#include "unpack/ascii.h"

namespace sandgate {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> header_parameter(std::string_view value, std::string_view param) {
  // Skip the leading type/token, then walk `; name=value` pairs.
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;  // past ';'
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = trim(value.substr(i, eq - i));
    size_t j = eq + 1;
    while (j < value.size() && (value[j] == ' ' || value[j] == '\t')) ++j;
    std::string v;
    if (j < value.size() && value[j] == '"') {
      ++j;
      while (j < value.size() && value[j] != '"') {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v += value[j++];
      }
      if (j < value.size()) ++j;  // closing quote
      size_t semi = value.find(';', j);
      i = semi;
    } else {
      size_t semi = value.find(';', j);
      v = std::string(trim(value.substr(j, semi == std::string_view::npos ? std::string_view::npos : semi - j)));
      i = semi;
    }
    if (ascii_iequals(name, param)) {
      if (param.size() > 0 && param.back() == '*') {
        // RFC 8187: charset'language'percent-encoded; only UTF-8 is accepted.
        size_t q1 = v.find('\'');
        size_t q2 = q1 == std::string::npos ? std::string::npos : v.find('\'', q1 + 1);
        if (q2 == std::string::npos || !ascii_iequals(std::string_view(v).substr(0, q1), "utf-8")) return std::nullopt;
        std::string out;
        for (size_t k = q2 + 1; k < v.size(); ++k) {
          if (v[k] == '%' && k + 2 < v.size() + 0 && hex_value(v[k + 1]) >= 0 && hex_value(v[k + 2]) >= 0) {
            out += static_cast<char>(hex_value(v[k + 1]) * 16 + hex_value(v[k + 2]));
            k += 2;
          } else {
            out += v[k];
          }
        }
        return out;
      }
      return v;
    }
  }
  return std::nullopt;
}

std::string disposition_filename(std::string_view value) {
  auto name = header_parameter(value, "filename*");
  if (!name || name->empty()) name = header_parameter(value, "filename");
  if (!name) return "";
  std::string n = *name;
  size_t slash = n.find_last_of("/\\");
  if (slash != std::string::npos) n = n.substr(slash + 1);
  if (n.size() > 255) n.resize(255);
  return n;
}

std::optional<std::string> form_data_boundary(const std::string& content_type) {
  std::string_view ct(content_type);
  size_t semi = ct.find(';');
  if (!ascii_iequals(trim(ct.substr(0, semi)), "multipart/form-data")) return std::nullopt;
  auto b = header_parameter(ct, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

MultipartSplitter::MultipartSplitter(std::string boundary, size_t max_parts, MultipartSink& sink,
                                     size_t max_header_bytes)
    : delimiter_("\r\n--" + boundary), max_parts_(max_parts), max_header_bytes_(max_header_bytes), sink_(sink) {
  buffer_ = "\r\n";
}

bool MultipartSplitter::fail(std::string why) {
  state_ = State::failed;
  error_ = std::move(why);
  buffer_.clear();
  return false;
}

bool MultipartSplitter::parse_headers(std::string_view block, PartHeaders& out) {
  // block: header lines separated by CRLF, without the blank line. Folded
  // lines (starting with SP/HT) continue the previous header (RFC 5322 2.2.3).
  std::string current;
  auto take = [&](const std::string& line) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) return;
    std::string_view name = trim(std::string_view(line).substr(0, colon));
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (ascii_iequals(name, "Content-Disposition")) {
      out.name = header_parameter(value, "name").value_or("");
      out.filename = disposition_filename(value);
    } else if (ascii_iequals(name, "Content-Type")) {
      out.content_type = std::string(value.substr(0, 255));
    }
  };
  size_t pos = 0;
  while (pos <= block.size()) {
    size_t end = block.find("\r\n", pos);
    std::string_view line = block.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      current += ' ';
      current += trim(line);
    } else {
      if (!current.empty()) take(current);
      current = std::string(line);
    }
    if (end == std::string_view::npos) break;
    pos = end + 2;
  }
  if (!current.empty()) take(current);
  return true;
}

// One transition; *progressed says whether more may be possible with the buffer as is.
bool MultipartSplitter::step(bool* progressed) {
  *progressed = false;
  switch (state_) {
    case State::preamble: {
      size_t at = buffer_.find(delimiter_);
      if (at == std::string::npos) {
        size_t keep = delimiter_.size() - 1;
        if (buffer_.size() > keep) buffer_.erase(0, buffer_.size() - keep);
        return true;
      }
      buffer_.erase(0, at + delimiter_.size());
      state_ = State::after_delimiter;
      *progressed = true;
      return true;
    }
    case State::after_delimiter: {
      if (buffer_.size() < 2) return true;
      if (buffer_.compare(0, 2, "--") == 0) {
        state_ = State::done;
        buffer_.clear();
        *progressed = true;
        return true;
      }
      size_t crlf = buffer_.find("\r\n");
      if (crlf == std::string::npos) {
        if (buffer_.size() > 256) return fail("malformed multipart body: junk after a boundary");
        return true;
      }
      for (size_t i = 0; i < crlf; ++i)  // transport padding only (RFC 2046 5.1.1)
        if (buffer_[i] != ' ' && buffer_[i] != '\t') return fail("malformed multipart body: junk after a boundary");
      buffer_.erase(0, crlf + 2);
      state_ = State::headers;
      *progressed = true;
      return true;
    }
    case State::headers: {
      size_t end;
      size_t skip;
      if (buffer_.size() >= 2 && buffer_.compare(0, 2, "\r\n") == 0) {
        end = 0;  // no header lines
        skip = 2;
      } else {
        end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (buffer_.size() > max_header_bytes_) return fail("multipart part headers are too long");
          return true;
        }
        skip = end + 4;
      }
      if (end > max_header_bytes_) return fail("multipart part headers are too long");
      if (parts_ >= max_parts_) return fail("too many parts in the multipart body (limit " + std::to_string(max_parts_) + ")");
      PartHeaders h;
      parse_headers(std::string_view(buffer_).substr(0, end), h);
      buffer_.erase(0, skip);
      ++parts_;
      if (!sink_.begin_part(h)) return fail("cannot store a part");
      state_ = State::body;
      *progressed = true;
      return true;
    }
    case State::body: {
      size_t at = buffer_.find(delimiter_);
      if (at == std::string::npos) {
        size_t keep = delimiter_.size() - 1;
        if (buffer_.size() > keep) {
          size_t n = buffer_.size() - keep;
          if (!sink_.part_data(buffer_.data(), n)) return fail("cannot store a part");
          buffer_.erase(0, n);
        }
        return true;
      }
      if (at > 0 && !sink_.part_data(buffer_.data(), at)) return fail("cannot store a part");
      if (!sink_.end_part()) return fail("cannot store a part");
      buffer_.erase(0, at + delimiter_.size());
      state_ = State::after_delimiter;
      *progressed = true;
      return true;
    }
    case State::done:
      buffer_.clear();
      return true;
    case State::failed:
      return false;
  }
  return false;
}

bool MultipartSplitter::feed(const char* data, size_t size) {
  if (state_ == State::failed) return false;
  if (state_ == State::done) return true;
  buffer_.append(data, size);
  bool progressed = true;
  while (progressed) {
    if (!step(&progressed)) return false;
  }
  return true;
}

bool MultipartSplitter::finish() {
  if (state_ == State::failed) return false;
  if (state_ != State::done) return fail("malformed multipart body: the closing boundary is missing");
  if (parts_ == 0) return fail("the multipart body holds no parts");
  return true;
}

}  // namespace sandgate
