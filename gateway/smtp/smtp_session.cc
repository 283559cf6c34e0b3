// The ESMTP protocol state machine (see smtp_session.h). Replies carry RFC 3463
// enhanced status codes; the texts follow Postfix's wording where an MTA admin
// would recognise them in a log.
#include "gateway/smtp/smtp_session.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>

#include "unpack/ascii.h"

namespace sandgate::smtp {

namespace {

constexpr size_t kSpoolBuffer = 64 * 1024;

std::string upper(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// An ESMTP parameter: esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2); values
// may be UTF-8 (RFC 6531 3.3).
bool valid_param(std::string_view p) {
  size_t eq = p.find('=');
  std::string_view key = p.substr(0, eq);
  if (key.empty() || key.size() > 64) return false;
  for (char c : key)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
  if (eq == std::string_view::npos) return true;
  std::string_view value = p.substr(eq + 1);
  if (value.empty() || value.size() > 512) return false;
  for (unsigned char c : value)
    if (c < 33 || c == '=' || c == 127) return false;
  return true;
}

// Parses "<path> params..." after "FROM:" / "TO:". Rejects control characters
// and unbalanced brackets; the address keeps quoted local parts verbatim.
bool parse_path(std::string_view arg, size_t max_address, std::string& address,
                std::vector<std::string>& params, std::string& why) {
  arg = trim(arg);
  if (arg.empty() || arg.front() != '<') {
    why = "5.5.4 Syntax: angle brackets are required around the address";
    return false;
  }
  bool quoted = false;
  size_t close = std::string_view::npos;
  for (size_t i = 1; i < arg.size(); ++i) {
    char c = arg[i];
    if (c == '\\' && quoted && i + 1 < arg.size()) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) {
    why = "5.5.4 Syntax: unbalanced angle brackets";
    return false;
  }
  std::string_view addr = arg.substr(1, close - 1);
  if (addr.size() > max_address) {
    why = "5.1.7 Address too long";
    return false;
  }
  for (unsigned char c : addr)
    if (c < 32 || c == 127) {
      why = "5.1.7 Bad address syntax";
      return false;
    }
  // A source route ("@a,@b:user@c", RFC 5321 4.1.2) is accepted and ignored.
  if (!addr.empty() && addr.front() == '@') {
    size_t colon = addr.find(':');
    if (colon == std::string_view::npos) {
      why = "5.1.7 Bad address syntax";
      return false;
    }
    addr.remove_prefix(colon + 1);
  }
  address = std::string(addr);
  params.clear();
  for (auto p : split_spaces(arg.substr(close + 1))) {
    if (!valid_param(p)) {
      why = "5.5.4 Invalid parameter syntax";
      return false;
    }
    params.emplace_back(p);
  }
  return true;
}

std::string reply(int code, std::string_view text) {
  Reply r;
  r.code = code;
  r.text = std::string(text);
  return r.format();
}

std::atomic<uint64_t> g_spool_counter{0};

}  // namespace

std::string Reply::format() const {
  std::string out;
  std::string_view rest = text;
  std::string c = std::to_string(code);
  if (rest.empty()) return c + "\r\n";
  while (true) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool last = nl == std::string_view::npos || nl + 1 >= rest.size();
    out += c;
    out += last ? ' ' : '-';
    out += line;
    out += "\r\n";
    if (last) break;
    rest.remove_prefix(nl + 1);
  }
  return out;
}

SmtpSession::SmtpSession(SessionLimits limits, DeliveryHandler& handler, std::string client_address)
    : limits_(std::move(limits)), handler_(handler) {
  env_.client_address = std::move(client_address);
  line_.reserve(limits_.max_command_line);
}

SmtpSession::~SmtpSession() {
  if (spool_) {
    std::fclose(spool_);
    ::unlink(spool_path_.c_str());
  }
}

std::string SmtpSession::greeting() const {
  return reply(220, limits_.hostname + " ESMTP Sandgate");
}

std::string SmtpSession::shutdown_reply(std::string_view why) {
  state_ = State::closed;
  return reply(421, "4.3.2 " + limits_.hostname + " " + std::string(why) + ", closing connection");
}

bool SmtpSession::feed(std::string_view input, std::string& out) {
  // Bounded: every iteration consumes at least one byte or closes the session.
  while (!input.empty() && state_ != State::closed && !tls_pending_) {
    if (state_ == State::command)
      command_byte_run(input, out);
    else
      data_run(input, out);
  }
  return state_ != State::closed;
}

void SmtpSession::tls_started() {
  tls_pending_ = false;
  tls_active_ = true;
  reset_transaction();
  helo_given_ = false;
  env_.helo.clear();
  env_.esmtp = false;
  line_.clear();
  line_cr_ = false;
  line_overflow_ = false;
}

void SmtpSession::count_error(std::string& out) {
  if (++errors_ >= limits_.max_errors) {
    out += reply(421, "4.7.0 " + limits_.hostname + " Error: too many errors");
    state_ = State::closed;
  }
}

// Command lines end with CRLF only. A bare LF, or a CR not followed by LF,
// makes the line a syntax error (it is not interpreted).
void SmtpSession::command_byte_run(std::string_view& input, std::string& out) {
  while (!input.empty() && state_ == State::command && !tls_pending_) {
    char c = input.front();
    input.remove_prefix(1);
    if (line_cr_) {
      line_cr_ = false;
      if (c == '\n') {
        if (line_overflow_) {
          line_overflow_ = false;
          line_.clear();
          out += reply(500, "5.5.2 Error: line too long");
          count_error(out);
          continue;
        }
        std::string line;
        line.swap(line_);
        line_.reserve(limits_.max_command_line);
        if (line.find('\r') != std::string::npos || line.find('\n') != std::string::npos ||
            line.find('\0') != std::string::npos) {
          out += reply(500, "5.5.2 Error: bare CR or LF, or NUL, in a command");
          count_error(out);
          continue;
        }
        handle_command(line, out);
        return;  // the state may have changed to data
      }
      // A bare CR: keep it in the line, which then is refused.
      if (line_.size() + 2 < limits_.max_command_line)
        line_.push_back('\r');
      else
        line_overflow_ = true;
    }
    if (c == '\r') {
      line_cr_ = true;
      continue;
    }
    if (line_.size() + 2 < limits_.max_command_line)
      line_.push_back(c);
    else
      line_overflow_ = true;
  }
}

void SmtpSession::emit(const char* p, size_t n) {
  if (n == 0) return;
  data_bytes_ += n;
  if (data_bytes_ > limits_.max_message_bytes) {
    too_big_ = true;
    return;  // keep counting, stop writing
  }
  if (spool_error_) return;
  spool_buf_.append(p, n);
  if (spool_buf_.size() >= kSpoolBuffer) flush_spool();
}

void SmtpSession::flush_spool() {
  if (!spool_ || spool_buf_.empty()) return;
  if (!spool_error_ &&
      std::fwrite(spool_buf_.data(), 1, spool_buf_.size(), spool_) != spool_buf_.size())
    spool_error_ = true;
  spool_buf_.clear();
}

// Streams message data: RFC 5321 4.5.2 unstuffing and 4.1.1.4 end of data.
// States: bol = at the start of a line (only after a real CRLF, or right after
// the 354); dot = "." seen at bol; dot_cr = ".\r" at bol; cr = "\r" seen inside
// a line; mid = inside a line. A state that does not consume the byte hands it
// to `mid`, so each iteration either consumes a byte or moves to mid.
void SmtpSession::data_run(std::string_view& input, std::string& out) {
  auto bare_newline = [&]() {
    // Normalised to CRLF inside the message, but NOT a line start for
    // end-of-data or unstuffing: only a real CRLF starts a line.
    bare_newline_ = true;
    emit_crlf();
    data_line_len_ = 0;
    ds_ = DataState::mid;
  };
  size_t i = 0;
  while (i < input.size()) {
    const char c = input[i];
    switch (ds_) {
      case DataState::bol:
        if (c == '.') {
          ds_ = DataState::dot;
          ++i;
        } else {
          ds_ = DataState::mid;
        }
        break;
      case DataState::dot:
        if (c == '\r') {
          ds_ = DataState::dot_cr;
          ++i;
        } else {
          ds_ = DataState::mid;  // the leading dot is removed (unstuffing)
        }
        break;
      case DataState::dot_cr:
        if (c == '\n') {
          input.remove_prefix(i + 1);
          end_of_data(out);
          return;
        }
        bare_newline();  // ".\r" then something else: the CR was bare
        break;
      case DataState::cr:
        if (c == '\n') {
          ++i;
          emit_crlf();
          data_line_len_ = 0;
          ds_ = DataState::bol;
        } else {
          bare_newline();
        }
        break;
      case DataState::mid: {
        if (c == '\r') {
          ds_ = DataState::cr;
          ++i;
          break;
        }
        if (c == '\n') {
          bare_newline();
          ++i;
          break;
        }
        size_t j = i;
        while (j < input.size() && input[j] != '\r' && input[j] != '\n') ++j;
        emit(input.data() + i, j - i);
        data_line_len_ += j - i;
        if (data_line_len_ + 2 > limits_.max_data_line) line_too_long_ = true;
        i = j;
        break;
      }
    }
  }
  input = {};
}

void SmtpSession::end_of_data(std::string& out) {
  flush_spool();
  bool close_error = spool_ && std::fclose(spool_) != 0;
  spool_ = nullptr;
  state_ = State::command;
  if (close_error) spool_error_ = true;
  if (too_big_) {
    out += reply(552, "5.3.4 Error: message file too big (limit " +
                          std::to_string(limits_.max_message_bytes) + " bytes)");
  } else if (line_too_long_) {
    out += reply(500, "5.5.2 Error: message line too long (limit " +
                          std::to_string(limits_.max_data_line) + " bytes)");
  } else if (bare_newline_ && limits_.reject_bare_newlines) {
    out += reply(550, "5.5.2 Error: bare CR or LF in message data (possible SMTP smuggling)");
  } else if (spool_error_) {
    out += reply(451, "4.3.0 Error: cannot write the message to the spool");
  } else {
    Reply r;
    try {
      r = handler_.deliver(env_, spool_path_, data_bytes_);
    } catch (...) {
      r = Reply{451, "4.3.0 Error: internal error while processing the message", false};
    }
    out += r.format();
    if (r.close) state_ = State::closed;
  }
  ::unlink(spool_path_.c_str());
  spool_path_.clear();
  reset_transaction();
}

void SmtpSession::reset_transaction() {
  mail_given_ = false;
  env_.sender.clear();
  env_.mail_params.clear();
  env_.recipients.clear();
  env_.declared_size = 0;
  env_.smtputf8 = false;
  env_.body.clear();
  // XFORWARD attributes hold for one transaction (XFORWARD_README).
  env_.xforward = XForward{};
}

void SmtpSession::handle_command(std::string_view line, std::string& out) {
  size_t sp = line.find(' ');
  std::string verb = upper(line.substr(0, sp));
  std::string_view arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  if (verb == "EHLO") return cmd_helo(arg, true, out);
  if (verb == "HELO") return cmd_helo(arg, false, out);
  if (verb == "MAIL") return cmd_mail(arg, out);
  if (verb == "RCPT") return cmd_rcpt(arg, out);
  if (verb == "DATA") return cmd_data(arg, out);
  if (verb == "RSET") {
    if (!trim(arg).empty()) {
      out += reply(501, "5.5.4 Syntax: RSET");
      return count_error(out);
    }
    reset_transaction();
    out += reply(250, "2.0.0 Ok");
    return;
  }
  if (verb == "NOOP") {
    out += reply(250, "2.0.0 Ok");
    return;
  }
  if (verb == "QUIT") {
    out += reply(221, "2.0.0 Bye");
    state_ = State::closed;
    return;
  }
  if (verb == "VRFY") {
    out += reply(252, "2.0.0 Cannot VRFY user; try RCPT to attempt delivery");
    return;
  }
  if (verb == "HELP") {
    out += reply(214, "2.0.0 See RFC 5321");
    return;
  }
  if (verb == "XFORWARD" && limits_.xforward) return cmd_xforward(arg, out);
  if (verb == "STARTTLS") {
    if (!limits_.starttls) {
      out += reply(502, "5.5.1 Error: STARTTLS is not offered on this listener");
      return count_error(out);
    }
    if (tls_active_) {
      out += reply(554, "5.5.1 Error: TLS already active");
      return count_error(out);
    }
    if (!trim(arg).empty()) {
      out += reply(501, "5.5.4 Syntax: STARTTLS");
      return count_error(out);
    }
    if (mail_given_) {
      out += reply(503, "5.5.1 Error: MAIL transaction in progress");
      return count_error(out);
    }
    out += reply(220, "2.0.0 Ready to start TLS");
    tls_pending_ = true;
    return;
  }
  if (verb == "BDAT") {
    out += reply(502, "5.5.1 Error: CHUNKING is not offered");
    return count_error(out);
  }
  out += reply(500, "5.5.2 Error: command not recognized");
  count_error(out);
}

void SmtpSession::cmd_helo(std::string_view arg, bool esmtp, std::string& out) {
  arg = trim(arg);
  if (arg.empty()) {
    out += reply(501, std::string("5.5.4 Syntax: ") + (esmtp ? "EHLO" : "HELO") + " hostname");
    return count_error(out);
  }
  // RFC 5321 4.1.4: EHLO/HELO resets the transaction.
  reset_transaction();
  helo_given_ = true;
  env_.helo = std::string(arg.substr(0, 255));
  env_.esmtp = esmtp;
  if (!esmtp) {
    out += reply(250, limits_.hostname);
    return;
  }
  std::string text = limits_.hostname + "\nPIPELINING\nSIZE " +
                     std::to_string(limits_.max_message_bytes) +
                     "\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES\n";
  if (limits_.xforward) text += "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\n";
  if (limits_.starttls && !tls_active_) text += "STARTTLS\n";
  text += "DSN";
  out += reply(250, text);
}

void SmtpSession::cmd_mail(std::string_view arg, std::string& out) {
  if (!helo_given_) {
    out += reply(503, "5.5.1 Error: send HELO/EHLO first");
    return count_error(out);
  }
  if (mail_given_) {
    out += reply(503, "5.5.1 Error: nested MAIL command");
    return count_error(out);
  }
  if (!ascii_istarts_with(arg, "FROM:")) {
    out += reply(501, "5.5.4 Syntax: MAIL FROM:<address>");
    return count_error(out);
  }
  std::string address, why;
  std::vector<std::string> params;
  if (!parse_path(arg.substr(5), limits_.max_address, address, params, why)) {
    out += reply(501, why);
    return count_error(out);
  }
  uint64_t size = 0;
  bool utf8 = false;
  std::string body;
  for (const auto& p : params) {
    std::string key = upper(p.substr(0, p.find('=')));
    std::string value = p.find('=') == std::string::npos ? "" : p.substr(p.find('=') + 1);
    if (!env_.esmtp) {
      out += reply(555, "5.5.4 Error: MAIL parameters need EHLO");
      return count_error(out);
    }
    if (key == "SIZE") {
      if (value.empty() || value.size() > 19 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        out += reply(501, "5.5.4 Bad SIZE parameter");
        return count_error(out);
      }
      size = std::stoull(value);
      if (size > limits_.max_message_bytes) {
        out += reply(552, "5.3.4 Message size exceeds fixed limit");
        return;
      }
    } else if (key == "BODY") {
      std::string v = upper(value);
      if (v != "7BIT" && v != "8BITMIME") {
        out += reply(501, "5.5.4 Unsupported BODY parameter");
        return count_error(out);
      }
      body = v;
    } else if (key == "SMTPUTF8") {
      if (!value.empty()) {
        out += reply(501, "5.5.4 Bad SMTPUTF8 parameter");
        return count_error(out);
      }
      utf8 = true;
    } else if (key == "RET" || key == "ENVID") {
      // DSN (RFC 3461): passed to the next hop.
    } else {
      out += reply(555, "5.5.4 Unsupported option: " + key);
      return count_error(out);
    }
  }
  if (!utf8)
    for (unsigned char c : address)
      if (c >= 128) {
        out += reply(553, "5.6.7 Must declare SMTPUTF8 to send a non-ASCII address");
        return count_error(out);
      }
  mail_given_ = true;
  env_.sender = address;
  env_.mail_params = params;
  env_.declared_size = size;
  env_.smtputf8 = utf8;
  env_.body = body;
  out += reply(250, "2.1.0 Ok");
}

void SmtpSession::cmd_rcpt(std::string_view arg, std::string& out) {
  if (!mail_given_) {
    out += reply(503, "5.5.1 Error: need MAIL command");
    return count_error(out);
  }
  if (!ascii_istarts_with(arg, "TO:")) {
    out += reply(501, "5.5.4 Syntax: RCPT TO:<address>");
    return count_error(out);
  }
  std::string address, why;
  std::vector<std::string> params;
  if (!parse_path(arg.substr(3), limits_.max_address, address, params, why)) {
    out += reply(501, why);
    return count_error(out);
  }
  if (address.empty()) {
    out += reply(501, "5.1.3 Bad recipient address syntax");
    return count_error(out);
  }
  if (!env_.smtputf8)
    for (unsigned char c : address)
      if (c >= 128) {
        out += reply(553, "5.6.7 Must declare SMTPUTF8 to send a non-ASCII address");
        return count_error(out);
      }
  for (const auto& p : params) {
    std::string key = upper(p.substr(0, p.find('=')));
    if (!env_.esmtp || (key != "NOTIFY" && key != "ORCPT")) {
      out += reply(555, "5.5.4 Unsupported option: " + key);
      return count_error(out);
    }
  }
  // RFC 5321 4.5.3.1.8: 452 for too many recipients; the client retries the rest.
  if (env_.recipients.size() >= limits_.max_recipients) {
    out += reply(452, "4.5.3 Error: too many recipients");
    return;
  }
  env_.recipients.push_back({address, params});
  out += reply(250, "2.1.5 Ok");
}

void SmtpSession::cmd_data(std::string_view arg, std::string& out) {
  if (!trim(arg).empty()) {
    out += reply(501, "5.5.4 Syntax: DATA");
    return count_error(out);
  }
  if (!mail_given_) {
    out += reply(503, "5.5.1 Error: need MAIL command");
    return count_error(out);
  }
  if (env_.recipients.empty()) {
    out += reply(554, "5.5.1 Error: no valid recipients");
    return count_error(out);
  }
  // A unique name: pid, a process-wide counter and a random part.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  spool_path_ = limits_.spool_dir + "/smtp-" + std::to_string(::getpid()) + "-" +
                std::to_string(g_spool_counter.fetch_add(1)) + "-" +
                std::to_string(rng() & 0xffffffff) + ".eml";
  int fd = ::open(spool_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  spool_ = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
  if (!spool_) {
    if (fd >= 0) ::close(fd);
    spool_path_.clear();
    out += reply(451, "4.3.0 Error: cannot open the spool");
    return;
  }
  ds_ = DataState::bol;
  data_line_len_ = 0;
  data_bytes_ = 0;
  too_big_ = line_too_long_ = bare_newline_ = spool_error_ = false;
  spool_buf_.clear();
  spool_buf_.reserve(kSpoolBuffer);
  state_ = State::data;
  out += reply(354, "End data with <CR><LF>.<CR><LF>");
}

// XFORWARD attr=value ... (Postfix XFORWARD_README): values are xtext
// (RFC 3461 4); "[UNAVAILABLE]" means unknown. Not inside a transaction.
void SmtpSession::cmd_xforward(std::string_view arg, std::string& out) {
  if (!helo_given_ || !env_.esmtp) {
    out += reply(503, "5.5.1 Error: send EHLO first");
    return count_error(out);
  }
  if (mail_given_) {
    out += reply(503, "5.5.1 Error: MAIL transaction in progress");
    return count_error(out);
  }
  auto items = split_spaces(arg);
  if (items.empty()) {
    out += reply(501, "5.5.4 Syntax: XFORWARD attribute=value...");
    return count_error(out);
  }
  XForward x = env_.xforward;
  for (auto item : items) {
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      out += reply(501, "5.5.4 Syntax: XFORWARD attribute=value...");
      return count_error(out);
    }
    std::string key = upper(item.substr(0, eq));
    std::string value;
    std::string_view raw = item.substr(eq + 1);
    for (size_t i = 0; i < raw.size() && value.size() < 255; ++i) {
      if (raw[i] == '+' && i + 2 < raw.size() &&
          std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
        value.push_back(
            static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        value.push_back(raw[i]);
      }
    }
    for (char& c : value)
      if (static_cast<unsigned char>(c) < 32 || c == 127) c = '?';
    if (value == "[UNAVAILABLE]" || value == "[TEMPUNAVAIL]") value.clear();
    if (key == "NAME")
      x.name = value;
    else if (key == "ADDR")
      x.addr = value.rfind("IPV6:", 0) == 0 ? value.substr(5) : value;
    else if (key == "PORT")
      x.port = value;
    else if (key == "PROTO")
      x.proto = value;
    else if (key == "HELO")
      x.helo = value;
    else if (key == "IDENT")
      x.ident = value;
    else if (key == "SOURCE")
      x.source = value;
    else {
      out += reply(501, "5.5.4 Bad XFORWARD attribute name: " + key.substr(0, 32));
      return count_error(out);
    }
  }
  env_.xforward = x;
  out += reply(250, "2.0.0 Ok");
}

}  // namespace sandgate::smtp
