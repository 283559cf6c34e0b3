// MimeStructureWalk (see mime_walk.h): header block -> body or preamble ->
// delimiter -> ... RFC 2046 5.1.1 (delimiters), RFC 2045 (fields and
// encodings), RFC 2183 (disposition).
#include "unpack/mime/mime_walk.h"

#include <algorithm>
#include <utility>

namespace sandgate {

namespace {

// Where a multipart is, for evidence: the root multipart has an empty path.
std::string where(const std::string& path) { return path.empty() ? "message" : "part" + path; }

}  // namespace

MimeStructureWalk::MimeStructureWalk(const MimeWalkLimits& limits) : limits_(limits) {
  limits_.max_nesting = std::clamp(limits_.max_nesting, 1, 1000);
}

void MimeStructureWalk::walk(const ByteSource& src) {
  entity_ = MimeEntity();
  entity_.path = "1";
  entity_.is_root = true;
  state_ = State::kHeaders;
  LineReader reader(src);
  LineFragment f;
  bool first = true;
  while (!stop_ && !done_ && reader.next(&f)) {
    if (cancelled()) {
      stop_ = true;
      break;
    }
    if (first && !f.term.empty()) first_newline_ = std::string(f.term);
    first = false;
    process(f);
    prev_term_ = f.term.size();
  }
  on_end(src.size());
}

void MimeStructureWalk::process(const LineFragment& f) {
  if (f.line_start && f.line_end && !levels_.empty()) {
    size_t k;
    bool close;
    if (match_mime_boundary(f.data, levels_, &k, &close)) {
      on_boundary(k, close, f);
      return;
    }
  }
  switch (state_) {
    case State::kHeaders:
      on_header(f);
      break;
    case State::kBody:
      on_body(f);
      break;
    case State::kSkip:
      on_skip(f);
      break;
  }
}

void MimeStructureWalk::on_header(const LineFragment& f) {
  MimeEntity& e = entity_;
  e.header_bytes += f.data.size() + f.term.size();
  if (f.line_start) ++e.header_lines;
  if (e.header_bytes > limits_.max_header_bytes || e.header_lines > limits_.max_header_lines) {
    problem("mime.header_limit", "header block over the limit; the rest is read as body",
            mime_part_name(e.path));
    start_body(f.offset);
    if (!stop_) process(f);
    return;
  }
  if (!f.line_start) {
    e.headers.append(f.data);
    return;
  }
  if (f.data.empty() && f.line_end) {
    start_body(f.end_offset());
    return;
  }
  bool first = e.first_line;
  e.first_line = false;
  if (first && e.is_root && f.data.substr(0, 5) == "From ") return;  // mbox separator
  if (!e.headers.add_line(f.data)) {
    // Not a field and not a continuation: the body began without the blank
    // line. Reading it as body keeps its content visible.
    problem("mime.malformed", "header block ended by a line that is not a header field",
            mime_part_name(e.path));
    start_body(f.offset);
    if (!stop_) process(f);
  }
}

// The header block of entity_ is complete; the body starts at body_start.
void MimeStructureWalk::start_body(uint64_t body_start) {
  const MimeEntity& e = entity_;
  const HeaderBlock& h = e.headers;
  on_header_block(e);
  HeaderValue ct = parse_header_value(h.content_type());
  report_duplicates(ct, "Content-Type", e.path);
  std::string mime;
  if (h.has_content_type()) {
    mime = normalize_mime_type(ct.value);
    if (mime.empty()) {
      // RFC 2045 5.2: an invalid Content-Type means text/plain.
      problem("mime.malformed", "invalid Content-Type", ct.value.substr(0, 100));
      mime = "text/plain";
    }
  } else {
    mime = e.digest_child ? "message/rfc822" : "text/plain";
  }
  std::string cte = parse_header_value(h.transfer_encoding()).value;

  if (mime.substr(0, 10) == "multipart/" && mime != "multipart/encrypted") {
    const std::string* boundary = ct.param("boundary");
    bool identity = cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary";
    if (boundary == nullptr || boundary->empty() || boundary->size() > kMaxMimeBoundary) {
      problem("mime.malformed", "multipart without a usable boundary; read as one part",
              mime_part_name(e.path));
    } else if (!identity) {
      // RFC 2045 6.4: a multipart is never encoded; decode it as one part.
      problem("mime.malformed", "encoded multipart; read as one part", mime_part_name(e.path));
    } else if (static_cast<int>(levels_.size()) >= limits_.max_nesting) {
      problem("mime.nesting",
              "multipart nesting over " + std::to_string(limits_.max_nesting) +
                  " levels; the rest is one part",
              mime_part_name(e.path));
      on_nesting_limit();
    } else {
      if (e.is_root) root_multipart_ = true;
      MimeLevel level;
      level.boundary = *boundary;
      level.path = e.is_root ? std::string() : e.path;
      level.mime = mime;
      level.digest = mime == "multipart/digest";
      level.entity_begin = e.begin;
      level.body_start = body_start;
      level.newline = e.newline;
      levels_.push_back(std::move(level));
      begin_skip();
      return;
    }
  }
  HeaderValue disposition = parse_header_value(h.disposition());
  report_duplicates(disposition, "Content-Disposition", e.path);
  const std::string* fn = disposition.param("filename");
  bool extended = disposition.is_extended("filename");
  if (fn == nullptr) {
    fn = ct.param("name");
    extended = ct.is_extended("name");
  }
  // RFC 2231 values are already decoded; RFC 2047 words in a quoted file name
  // are not allowed (2047 5) but common, so decode them too.
  std::string name;
  if (fn != nullptr) name = display_name(extended ? *fn : decode_encoded_words(*fn));
  state_ = State::kBody;
  begin_leaf(MimeLeafStart{e, mime, cte, ct, disposition, name, body_start});
}

void MimeStructureWalk::report_duplicates(const HeaderValue& value, std::string_view field,
                                          const std::string& path) {
  for (const std::string& name : value.duplicates)
    problem("mime.duplicate_parameter",
            "duplicate " + name + " parameter in " + std::string(field) + "; the first one is used",
            mime_part_name(path));
}

void MimeStructureWalk::finish_leaf(uint64_t body_end, uint64_t entity_end, bool at_eof) {
  state_ = State::kSkip;
  end_leaf(body_end, entity_end, at_eof);
}

void MimeStructureWalk::begin_skip() {
  state_ = State::kSkip;
  skip_nonblank_ = 0;
}

void MimeStructureWalk::on_skip(const LineFragment& f) {
  skip_nonblank_ += static_cast<uint64_t>(
      std::count_if(f.data.begin(), f.data.end(), [](char c) { return !is_mime_blank(c); }));
  if (levels_.empty() && skip_nonblank_ > limits_.hidden_data_bytes) {
    // Top-level epilogue: nothing more can follow; stop reading (the end of
    // input reports it).
    done_ = true;
  }
}

void MimeStructureWalk::end_skip(uint64_t end) {
  if (skip_nonblank_ > limits_.hidden_data_bytes)
    problem("mime.hidden_data", "text in a multipart preamble or epilogue",
            std::to_string(skip_nonblank_) + " non-blank bytes");
  skip_nonblank_ = 0;
  on_skip_end(end);
}

// Ends the innermost multipart at end.
void MimeStructureWalk::close_innermost(uint64_t end, bool proper) {
  const MimeLevel& level = levels_.back();
  if (!proper)
    problem("mime.malformed", "missing closing boundary",
            where(level.path) + " boundary \"" + level.boundary.substr(0, 100) + "\"");
  if (level.parts == 0) {
    problem("mime.malformed", level.mime + " without any part", where(level.path));
    if (!stop_ && end > level.body_start) on_empty_multipart(level, end, proper);
  }
  levels_.pop_back();
}

void MimeStructureWalk::on_boundary(size_t k, bool close, const LineFragment& f) {
  const uint64_t line_offset = f.offset;
  const uint64_t end = line_offset >= prev_term_ ? line_offset - prev_term_ : line_offset;
  switch (state_) {
    case State::kBody:
      finish_leaf(end, end, false);
      break;
    case State::kHeaders:
      problem("mime.malformed", "part ended inside its header block", mime_part_name(entity_.path));
      start_body(line_offset);
      if (state_ == State::kBody) finish_leaf(line_offset, end, false);
      break;
    case State::kSkip:
      end_skip(end);
      break;
  }
  while (levels_.size() > k + 1) close_innermost(end, false);
  if (close) {
    close_innermost(end, true);
    begin_skip();  // the epilogue
    return;
  }
  MimeLevel& level = levels_[k];
  ++level.parts;
  if (++parts_ > limits_.max_parts) {
    problem("mime.too_many_parts",
            "more than " + std::to_string(limits_.max_parts) + " parts; the rest is not read", "");
    on_part_limit();
    stop_ = true;
    return;
  }
  entity_ = MimeEntity();
  entity_.path = (level.path.empty() ? "" : level.path + ".") + std::to_string(level.parts);
  entity_.digest_child = level.digest;
  entity_.begin = f.end_offset();
  entity_.newline = f.term.empty() ? first_newline_ : std::string(f.term);
  state_ = State::kHeaders;
}

void MimeStructureWalk::on_end(uint64_t size) {
  if (stop_) {
    if (state_ == State::kBody) finish_leaf(size, size, true);  // an open part is finished once
    return;
  }
  switch (state_) {
    case State::kBody:
      finish_leaf(size, size, true);
      break;
    case State::kHeaders:
      start_body(size);
      if (state_ == State::kBody) finish_leaf(size, size, false);
      break;
    case State::kSkip:
      end_skip(size);
      break;
  }
  on_input_end(levels_);
  while (!levels_.empty()) close_innermost(size, false);
}

}  // namespace sandgate
