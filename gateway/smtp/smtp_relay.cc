// The next-hop SMTP client (see smtp_relay.h). Connections are pooled and
// reused; commands are sent one at a time (no pipelining to the next hop).
#include "gateway/smtp/smtp_relay.h"

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace sandgate::smtp {

namespace {

constexpr size_t kMaxReplyLines = 100;
constexpr size_t kMaxReplyLine = 4096;
constexpr size_t kMaxHeaderSection = 256 * 1024;

Poco::Timespan seconds(double s) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(s * 1e6));
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return s;
}

struct NextHopReply {
  int code = 0;
  std::vector<std::string> lines;  // text after "CODE-"/"CODE "
  std::string joined() const {
    std::string s;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) s += '\n';
      s += lines[i];
    }
    return s;
  }
};

}  // namespace

class NextHopConnection {
 public:
  explicit NextHopConnection(const RelayTarget& t) : target_(t) {}

  // What the next hop's EHLO reply offered.
  bool has_size = false, has_8bit = false, has_utf8 = false, has_dsn = false;
  std::vector<std::string> xforward;  // the XFORWARD attributes it takes (upper case)
  int messages = 0;  // transactions completed on this connection
  std::chrono::steady_clock::time_point last_used{};

  // Reads the greeting and sends EHLO, noting the extensions offered.
  // Throws Poco::Exception when the next hop does not greet or refuses EHLO.
  void greet(const std::string& helo_name);

  // Throws Poco::Exception on network errors (caught by send()).
  void open() {
    Poco::Net::SocketAddress addr(target_.host, target_.port);
    socket_.connect(addr, seconds(target_.connect_timeout_s));
    socket_.setReceiveTimeout(seconds(target_.command_timeout_s));
    socket_.setSendTimeout(seconds(target_.command_timeout_s));
    socket_.setNoDelay(true);
  }

  void write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      int n = socket_.sendBytes(s.data() + off,
                                static_cast<int>(std::min<size_t>(s.size() - off, 1 << 20)));
      if (n <= 0)
        throw Poco::IOException("the next hop closed the connection while we were sending");
      off += static_cast<size_t>(n);
    }
  }

  // One reply (possibly multi-line); nullopt-like code 0 on a malformed reply.
  NextHopReply read_reply() {
    NextHopReply r;
    while (r.lines.size() < kMaxReplyLines) {
      std::string line = read_line();
      if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
          !std::isdigit(static_cast<unsigned char>(line[1])) ||
          !std::isdigit(static_cast<unsigned char>(line[2])))
        throw Poco::ProtocolException("malformed reply from the next hop");
      int code = std::stoi(line.substr(0, 3));
      if (r.code != 0 && code != r.code)
        throw Poco::ProtocolException("inconsistent reply codes from the next hop");
      r.code = code;
      r.lines.push_back(line.size() > 4 ? line.substr(4) : "");
      if (line.size() == 3 || line[3] == ' ') return r;
      if (line[3] != '-') throw Poco::ProtocolException("malformed reply from the next hop");
    }
    throw Poco::ProtocolException("too many reply lines from the next hop");
  }

 private:
  std::string read_line() {
    std::string line;
    while (true) {
      if (pos_ == len_) {
        int n = socket_.receiveBytes(buf_, sizeof buf_);
        if (n <= 0) throw Poco::IOException("the next hop closed the connection");
        pos_ = 0;
        len_ = static_cast<size_t>(n);
      }
      char c = buf_[pos_++];
      if (c == '\n') {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (line.size() >= kMaxReplyLine)
        throw Poco::ProtocolException("reply line too long from the next hop");
      line.push_back(c);
    }
  }

  const RelayTarget& target_;
  Poco::Net::StreamSocket socket_;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
};

namespace {

RelayResult tempfail(const std::string& text) {
  RelayResult r;
  r.reply = Reply{451, "4.4.2 Error: next hop: " + text, false};
  return r;
}

// The next hop's own answer, handed to our client. A malformed code class
// (not 2/4/5) is a temporary failure.
RelayResult relay_answer(const NextHopReply& nh, bool delivered) {
  RelayResult r;
  r.delivered = delivered;
  r.reply.code = nh.code;
  r.reply.text = nh.joined();
  if (nh.code < 200 || nh.code >= 600 || nh.code / 100 == 3) {
    r.delivered = false;
    r.reply = Reply{451, "4.4.2 Error: next hop gave an unexpected reply", false};
  }
  return r;
}

}  // namespace

std::string rewrite_header_section(const std::string& header, const MessageRewrite& rewrite) {
  std::string out;
  for (const auto& h : rewrite.add_headers) {
    out += h;
    out += "\r\n";
  }
  if (rewrite.subject_prefix.empty()) return out + header;
  // Find the first "Subject:" field at a line start (RFC 5322 3.6.5).
  size_t pos = 0;
  bool done = false;
  while (pos < header.size()) {
    size_t eol = header.find('\n', pos);
    size_t end = eol == std::string::npos ? header.size() : eol + 1;
    std::string_view line(header.data() + pos, end - pos);
    if (!done && line.size() >= 8 && upper(std::string(line.substr(0, 8))) == "SUBJECT:") {
      out += "Subject:";
      std::string_view value = line.substr(8);
      size_t ws = 0;
      while (ws < value.size() && (value[ws] == ' ' || value[ws] == '\t')) ++ws;
      out += ' ';
      out += rewrite.subject_prefix;
      out.append(value.substr(ws));
      done = true;
    } else {
      out.append(line);
    }
    pos = end;
  }
  if (!done) {
    // No Subject: add one carrying just the prefix, before the blank line.
    std::string sub = "Subject: " + rewrite.subject_prefix + "\r\n";
    size_t blank = out.rfind("\r\n\r\n");
    if (blank != std::string::npos && blank + 4 == out.size())
      out.insert(blank + 2, sub);
    else
      out = sub + out;
  }
  return out;
}

void dot_stuff(std::string_view in, bool& bol, bool& cr, std::string& out) {
  // Runs of ordinary characters are copied whole: per-character appends made
  // this 12% of the CPU of relaying DOCX mail.
  const size_t n = in.size();
  out.reserve(out.size() + n + n / 32 + 8);
  size_t i = 0;
  while (i < n) {
    const char c = in[i];
    if (cr) {  // after a CR: its LF, or a bare CR completed to CRLF
      cr = false;
      bol = true;
      out += '\n';
      if (c == '\n') {
        ++i;
        continue;
      }
    }
    if (bol) {
      if (c == '.') out += '.';
      bol = false;
    }
    size_t j = i;
    while (j < n && in[j] != '\r' && in[j] != '\n') ++j;
    out.append(in.data() + i, j - i);
    i = j;
    if (i == n) break;
    if (in[i] == '\n') {  // a bare LF
      out += "\r\n";
      bol = true;
    } else {
      out += '\r';
      cr = true;
    }
    ++i;
  }
}

SmtpRelay::SmtpRelay(RelayTarget target) : target_(std::move(target)) {}

SmtpRelay::~SmtpRelay() {
  std::lock_guard lock(mu_);
  for (auto& c : idle_) {
    try {
      c->write("QUIT\r\n");
    } catch (...) {
    }
  }
  idle_.clear();
}

size_t SmtpRelay::idle_connections() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

std::unique_ptr<NextHopConnection> SmtpRelay::take_idle() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    std::unique_ptr<NextHopConnection> c = std::move(idle_.back());
    idle_.pop_back();
    if (std::chrono::duration<double>(now - c->last_used).count() <= target_.idle_keep_s) return c;
    try {  // kept too long: the next hop may be about to drop it
      c->write("QUIT\r\n");
    } catch (...) {
    }
  }
  return nullptr;
}

void SmtpRelay::keep(std::unique_ptr<NextHopConnection> c) {
  if (target_.max_idle_connections == 0 || c->messages >= target_.max_messages_per_connection) {
    try {
      c->write("QUIT\r\n");
    } catch (...) {
    }
    return;
  }
  c->last_used = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(c));
  if (idle_.size() > target_.max_idle_connections) idle_.erase(idle_.begin());  // the oldest
}

void NextHopConnection::greet(const std::string& helo_name) {
  NextHopReply r = read_reply();
  if (r.code != 220) throw Poco::ProtocolException("greeting: " + r.joined().substr(0, 200));
  write("EHLO " + helo_name + "\r\n");
  r = read_reply();
  if (r.code != 250) throw Poco::ProtocolException("EHLO refused: " + r.joined().substr(0, 200));
  for (size_t i = 1; i < r.lines.size(); ++i) {
    std::string kw = upper(r.lines[i].substr(0, r.lines[i].find(' ')));
    has_size |= kw == "SIZE";
    has_8bit |= kw == "8BITMIME";
    has_utf8 |= kw == "SMTPUTF8";
    has_dsn |= kw == "DSN";
    if (kw == "XFORWARD") {
      std::istringstream names(upper(r.lines[i].substr(8)));
      for (std::string n; names >> n && xforward.size() < 16;) xforward.push_back(n);
    }
  }
}

// The XFORWARD commands that tell the next hop about the original client
// (Postfix XFORWARD_README): what the MTA in front of us forwarded, else our
// own peer. Only the attributes the next hop offered; values in xtext;
// several commands when one would pass 500 bytes.
static std::vector<std::string> xforward_commands(const Envelope& env, const std::vector<std::string>& offered) {
  const XForward& x = env.xforward;
  const bool forwarded = !x.addr.empty() || !x.name.empty() || !x.helo.empty();
  auto value = [&](const std::string& attr) -> std::optional<std::string> {
    if (attr == "NAME") return forwarded ? x.name : std::string();
    if (attr == "ADDR") {
      std::string a = forwarded ? x.addr : env.client_address;
      return a.find(':') != std::string::npos ? "IPV6:" + a : a;
    }
    if (attr == "PORT") return forwarded ? x.port : std::string();
    if (attr == "PROTO") return forwarded ? x.proto : std::string(env.esmtp ? "ESMTP" : "SMTP");
    if (attr == "HELO") return forwarded ? x.helo : env.helo;
    if (attr == "IDENT") return forwarded ? x.ident : std::string();
    if (attr == "SOURCE") return forwarded ? x.source : std::string();
    return std::nullopt;  // an attribute we know nothing of: not sent
  };
  std::vector<std::string> out;
  std::string cmd;
  for (const auto& attr : offered) {
    auto v = value(attr);
    if (!v) continue;
    std::string item = attr + "=";
    if (v->empty() || (attr == "ADDR" && *v == "IPV6:")) {
      item += "[UNAVAILABLE]";
    } else {
      static const char kHex[] = "0123456789ABCDEF";
      for (unsigned char ch : v->substr(0, 255)) {
        if (ch < 33 || ch > 126 || ch == '+' || ch == '=') {
          item += '+';
          item += kHex[ch >> 4];
          item += kHex[ch & 15];
        } else {
          item += static_cast<char>(ch);
        }
      }
    }
    if (!cmd.empty() && cmd.size() + 1 + item.size() > 500) {
      out.push_back(cmd + "\r\n");
      cmd.clear();
    }
    cmd += cmd.empty() ? "XFORWARD " + item : " " + item;
  }
  if (!cmd.empty()) out.push_back(cmd + "\r\n");
  return out;
}

RelayResult SmtpRelay::send(const Envelope& env, const std::string& spool_path,
                            const MessageRewrite& rewrite) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(spool_path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return tempfail("cannot read the spooled message");
  // The header section (bounded) is rewritten in memory; the body streams.
  std::string head;
  {
    char buf[8192];
    while (head.size() < kMaxHeaderSection) {
      size_t n = std::fread(buf, 1, sizeof buf, file.get());
      if (n == 0) break;
      head.append(buf, n);
      if (head.find("\r\n\r\n") != std::string::npos || head.rfind("\r\n", 0) == 0) break;
    }
  }
  const long body_offset = std::ftell(file.get());
  if (body_offset < 0) return tempfail("cannot read the spooled message");
  std::string header, rest;
  size_t blank = head.find("\r\n\r\n");
  if (head.rfind("\r\n", 0) == 0) {
    rest = head;  // empty header section
  } else if (blank != std::string::npos) {
    header = head.substr(0, blank + 4);
    rest = head.substr(blank + 4);
  } else {
    rest = head;  // no header end found in the bound: prepend only
  }
  std::string first = rewrite_header_section(header, rewrite);
  // First over an idle connection if there is one; if that one turns out to
  // be closed before MAIL was accepted, once more over a fresh connection.
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<NextHopConnection> c = round == 0 ? take_idle() : nullptr;
    const bool reused = c != nullptr;
    if (!c) {
      try {
        c = std::make_unique<NextHopConnection>(target_);
        c->open();
        opened_.fetch_add(1);
        c->greet(target_.helo_name);
      } catch (const Poco::TimeoutException&) {
        return tempfail("timeout");
      } catch (const Poco::Exception& e) {
        return tempfail(e.displayText().substr(0, 200));
      } catch (const std::exception& e) {
        return tempfail(std::string(e.what()).substr(0, 200));
      }
    }
    if (std::fseek(file.get(), body_offset, SEEK_SET) != 0)
      return tempfail("cannot read the spooled message");
    bool stale = false, reusable = false;
    RelayResult r = attempt(*c, env, first, header, rest, file.get(), reused, &stale, &reusable);
    if (stale) continue;
    if (reusable) keep(std::move(c));
    return r;
  }
  return tempfail("the next hop closed the connection");
}

RelayResult SmtpRelay::attempt(NextHopConnection& c, const Envelope& env, const std::string& first,
                               const std::string& header, const std::string& rest,
                               std::FILE* file, bool reused, bool* stale, bool* reusable) {
  // After the transaction: RSET so the next message starts clean; a
  // connection that does not take it is not kept.
  auto finish = [&](RelayResult result, bool in_transaction) {
    try {
      if (in_transaction) {
        c.write("RSET\r\n");
        if (c.read_reply().code != 250) return result;
      }
      *reusable = true;
    } catch (...) {
    }
    return result;
  };
  try {
    if (env.smtputf8 && !c.has_utf8) {
      *reusable = true;
      return tempfail("the next hop does not offer SMTPUTF8");
    }
    std::string mail = "MAIL FROM:<" + env.sender + ">";
    for (const auto& p : env.mail_params) {
      std::string key = upper(p.substr(0, p.find('=')));
      if (key == "SIZE") continue;  // recomputed below
      if ((key == "BODY" && c.has_8bit) || (key == "SMTPUTF8" && c.has_utf8) ||
          ((key == "RET" || key == "ENVID") && c.has_dsn))
        mail += " " + p;
    }
    if (c.has_size && env.declared_size > 0) {
      uint64_t added = first.size() > header.size() ? first.size() - header.size() : 0;
      mail += " SIZE=" + std::to_string(env.declared_size + added);
    }
    NextHopReply r;
    try {
      // XFORWARD first (before each transaction: the next hop forgets it
      // after one). A refusal only loses the attribution, not the message.
      for (const auto& x : xforward_commands(env, c.xforward)) {
        c.write(x);
        r = c.read_reply();
        if (r.code == 421) break;
      }
      if (r.code != 421) {
        c.write(mail + "\r\n");
        r = c.read_reply();
      }
    } catch (const Poco::Exception&) {
      if (reused) {  // closed while idle: nothing was accepted, try afresh
        *stale = true;
        return {};
      }
      throw;
    }
    if (r.code == 421) {  // the next hop is closing this connection
      if (reused) {
        *stale = true;
        return {};
      }
      return relay_answer(r, false);
    }
    if (r.code / 100 != 2) return finish(relay_answer(r, false), false);
    // Every recipient must be accepted: we answer one reply for all of them.
    // Any 4xx makes the whole message temporary; else the first 5xx is final.
    NextHopReply first_permanent;
    bool any_temp = false;
    std::string temp_text;
    for (const auto& rc : env.recipients) {
      std::string cmd = "RCPT TO:<" + rc.address + ">";
      if (c.has_dsn)
        for (const auto& p : rc.params) cmd += " " + p;
      c.write(cmd + "\r\n");
      r = c.read_reply();
      if (r.code / 100 == 2) continue;
      if (r.code == 421) return relay_answer(r, false);
      if (r.code / 100 == 5) {
        if (first_permanent.code == 0) first_permanent = r;
      } else {
        any_temp = true;
        temp_text = r.joined();
      }
    }
    if (any_temp) return finish(tempfail("recipient deferred: " + temp_text.substr(0, 200)), true);
    if (first_permanent.code != 0) return finish(relay_answer(first_permanent, false), true);
    c.write("DATA\r\n");
    r = c.read_reply();
    if (r.code != 354) {
      RelayResult refused =
          r.code / 100 == 5 ? relay_answer(r, false) : tempfail("DATA refused: " + r.joined());
      return r.code == 421 ? refused : finish(refused, true);
    }
    bool bol = true, cr = false;
    std::string out;
    out.reserve(80 * 1024);
    dot_stuff(first, bol, cr, out);
    dot_stuff(rest, bol, cr, out);
    char buf[64 * 1024];
    while (true) {
      if (out.size() >= 64 * 1024) {
        c.write(out);
        out.clear();
      }
      size_t n = std::fread(buf, 1, sizeof buf, file);
      if (n == 0) break;
      dot_stuff(std::string_view(buf, n), bol, cr, out);
    }
    // A read error mid-DATA: the connection is in the middle of a message
    // and cannot be ended cleanly; it is dropped (never kept).
    if (std::ferror(file)) return tempfail("cannot read the spooled message");
    if (cr) {
      out += '\n';
      bol = true;
    }
    if (!bol) out += "\r\n";
    out += ".\r\n";
    c.write(out);
    r = c.read_reply();
    ++c.messages;
    RelayResult result = relay_answer(r, r.code / 100 == 2);
    if (r.code != 421) *reusable = true;
    return result;
  } catch (const Poco::TimeoutException&) {
    return tempfail("timeout");
  } catch (const Poco::Exception& e) {
    return tempfail(e.displayText().substr(0, 200));
  } catch (const std::exception& e) {
    return tempfail(std::string(e.what()).substr(0, 200));
  }
}

}  // namespace sandgate::smtp
