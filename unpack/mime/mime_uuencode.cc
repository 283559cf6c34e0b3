// uuencode / begin-base64 extraction from text bodies (see the header).
// Format: POSIX.1-2017 uuencode(1), "Extended Description".
#include "unpack/mime/mime_uuencode.h"

#include <string>
#include <string_view>

#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"

namespace sandgate {

namespace {

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Parses "begin MODE NAME" / "begin-base64 MODE NAME". MODE is 1-4 octal
// digits, so prose such as "begin the meeting" does not match.
bool parse_begin(std::string_view line, bool* base64, std::string_view* name) {
  line = rtrim(line);
  if (line.substr(0, 13) == "begin-base64 ") {
    *base64 = true;
    line.remove_prefix(13);
  } else if (line.substr(0, 6) == "begin ") {
    *base64 = false;
    line.remove_prefix(6);
  } else {
    return false;
  }
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  size_t digits = 0;
  while (digits < line.size() && line[digits] >= '0' && line[digits] <= '7') ++digits;
  if (digits == 0 || digits > 4 || digits >= line.size() || line[digits] != ' ') return false;
  line.remove_prefix(digits);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty()) return false;
  *name = line;
  return true;
}

// A plausible uuencoded data line: valid characters and a length character
// that matches the line length (encoders may drop trailing spaces or add one
// checksum character).
bool plausible_uu_line(std::string_view line) {
  line = rtrim(line);
  if (line.empty()) return false;
  std::string scratch;
  bool is_end = false;
  if (uudecode_line(line, &scratch, &is_end) != 0) return false;
  if (is_end) return true;
  size_t n = static_cast<size_t>((static_cast<unsigned char>(line[0]) - 0x20) & 0x3f);
  size_t want = 1 + (n + 2) / 3 * 4;
  // Trailing zero sextets may be spaces that a mail transport stripped, so a
  // line may be shorter than its length character says, never much longer.
  return line.size() >= 2 && line.size() <= want + 2;
}

}  // namespace

size_t scan_uuencoded(const ByteSource& body, UnpackContext& ctx, size_t max_files,
                      const UuDefectSink& on_defects, bool* stop) {
  *stop = false;
  LineReader reader(body);
  LineFragment f;
  enum class State { kSearch, kFirstLine, kUu, kBase64 } state = State::kSearch;
  bool base64 = false;
  std::string name;
  std::unique_ptr<ChildWriter> writer;
  bool writer_dead = false;
  UuDefects defects;
  Base64Decoder b64;
  std::string out;
  size_t emitted = 0;
  bool capped = false;  // a file past max_files was seen (reported once)

  auto write_out = [&] {
    if (!out.empty() && !writer_dead && !writer->write(out.data(), out.size())) writer_dead = true;
    out.clear();
  };
  // Starts the child for the file named `name`; false (and *stop) when the
  // context takes no more.
  auto open_file = [&] {
    ChildInfo info;
    info.name = name;
    writer = ctx.begin_child(info);
    if (!writer) {
      *stop = true;
      return false;
    }
    writer_dead = false;
    defects = {};
    return true;
  };
  auto finish_file = [&] {
    if (base64) {
      b64.finish(&out);
      defects.bad_chars += b64.bad_chars();
    }
    write_out();
    on_defects(*writer, defects);
    writer->finish();
    writer.reset();
    ++emitted;
    state = State::kSearch;
  };

  while (reader.next(&f)) {
    if (ctx.should_stop()) {
      *stop = true;
      break;
    }
    if (!f.line_start) {
      // Data lines are short; the tail of an over-long line is garbage.
      if (state == State::kUu || state == State::kBase64) defects.bad_chars += f.data.size();
      continue;
    }
    std::string_view line = f.data;
    switch (state) {
      case State::kSearch: {
        std::string_view n;
        if (!parse_begin(line, &base64, &n)) break;
        if (emitted >= max_files) {
          // Not read: a limit, so that the policy's on_limit decides (a
          // silent cap would let the files past it through unseen).
          if (!capped)
            ctx.add_finding(make_finding("limits.objects",
                                         "more uuencoded files in one body than the limit; the "
                                         "rest were not read",
                                         std::to_string(max_files) + " files read"));
          capped = true;
          break;
        }
        name = display_name(n);
        state = base64 ? State::kBase64 : State::kFirstLine;
        if (base64) {
          // begin-base64 data is self-evidently base64; start the file now.
          if (!open_file()) return emitted;
          b64 = Base64Decoder();
        }
        break;
      }
      case State::kFirstLine: {
        // Only start a file once the first line looks like uuencode.
        if (!plausible_uu_line(line)) {
          state = State::kSearch;
          break;
        }
        if (!open_file()) return emitted;
        state = State::kUu;
        [[fallthrough]];
      }
      case State::kUu: {
        if (rtrim(line) == "end") {
          finish_file();
          break;
        }
        bool is_end = false;
        if (!writer_dead) defects.bad_chars += uudecode_line(line, &out, &is_end);
        write_out();
        break;
      }
      case State::kBase64:
        if (rtrim(line) == "====") {
          finish_file();
          break;
        }
        if (!writer_dead) b64.decode(line, &out);
        write_out();
        break;
    }
  }
  if (writer) {
    defects.missing_end = true;
    finish_file();
  }
  return emitted;
}

}  // namespace sandgate
