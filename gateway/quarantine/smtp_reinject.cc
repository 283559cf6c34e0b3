// smtp_reinject: the bounded SMTP client used by `sandgate quarantine release`.
// Message bytes are sent with line endings normalised to CRLF and leading dots
// doubled (RFC 5321 4.5.2), so a stored message can never end DATA early.
#include "gateway/quarantine/smtp_reinject.h"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

namespace sandgate {

namespace {

constexpr size_t kMaxReplyLine = 4096;
constexpr int kMaxReplyLines = 64;

class SmtpConnection {
 public:
  explicit SmtpConnection(Poco::Net::StreamSocket& socket) : socket_(socket) {}

  // Reads one (possibly multi-line) reply; returns its code, or -1 with *error.
  int read_reply(std::string* text, std::string* error) {
    text->clear();
    for (int lines = 0; lines < kMaxReplyLines; ++lines) {
      std::string line;
      if (!read_line(&line, error)) return -1;
      if (line.size() < 3 || !isdigit(static_cast<unsigned char>(line[0])) ||
          !isdigit(static_cast<unsigned char>(line[1])) ||
          !isdigit(static_cast<unsigned char>(line[2]))) {
        *error = "malformed SMTP reply '" + line.substr(0, 80) + "'";
        return -1;
      }
      *text += line + " ";
      if (line.size() == 3 || line[3] != '-') return std::stoi(line.substr(0, 3));
    }
    *error = "SMTP reply has too many lines";
    return -1;
  }

  bool send(const std::string& data, std::string* error) {
    size_t off = 0;
    try {
      while (off < data.size()) {
        int n = socket_.sendBytes(data.data() + off, static_cast<int>(data.size() - off));
        if (n <= 0) {
          *error = "connection closed while sending";
          return false;
        }
        off += static_cast<size_t>(n);
      }
    } catch (const Poco::Exception& e) {
      *error = "send failed: " + e.displayText();
      return false;
    }
    return true;
  }

  // Sends a command and expects a reply code in [lo, hi].
  bool command(const std::string& line, int lo, int hi, std::string* error) {
    if (!send(line + "\r\n", error)) return false;
    std::string text;
    int code = read_reply(&text, error);
    if (code < 0) return false;
    if (code < lo || code > hi) {
      *error = "next hop answered '" + text.substr(0, 200) + "' to " + line.substr(0, 80);
      return false;
    }
    return true;
  }

 private:
  bool read_line(std::string* line, std::string* error) {
    line->clear();
    for (;;) {
      if (pos_ == len_) {
        try {
          int n = socket_.receiveBytes(buf_, sizeof buf_);
          if (n <= 0) {
            *error = "next hop closed the connection";
            return false;
          }
          len_ = static_cast<size_t>(n);
          pos_ = 0;
        } catch (const Poco::Exception& e) {
          *error = "receive failed: " + e.displayText();
          return false;
        }
      }
      char c = buf_[pos_++];
      if (c == '\n') {
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
      }
      if (line->size() >= kMaxReplyLine) {
        *error = "SMTP reply line too long";
        return false;
      }
      line->push_back(c);
    }
  }

  Poco::Net::StreamSocket& socket_;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
};

bool safe_address(const std::string& a) {
  return a.size() <= 512 && a.find_first_of("\r\n<>") == std::string::npos;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

}  // namespace

bool smtp_reinject(const ReinjectRequest& req, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (req.recipients.empty()) {
    *error = "no recipients to release to";
    return false;
  }
  if (!safe_address(req.sender)) {
    *error = "sender address unusable in SMTP";
    return false;
  }
  for (const auto& r : req.recipients) {
    if (r.empty() || !safe_address(r)) {
      *error = "recipient address '" + one_line(r).substr(0, 80) + "' unusable in SMTP";
      return false;
    }
  }
  int fd = ::open(req.message_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot open stored message " + req.message_path;
    return false;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  try {
    Poco::Timespan timeout(static_cast<long>(req.timeout_s * 1e6));
    Poco::Net::SocketAddress addr(req.next_hop.host, req.next_hop.port);
    Poco::Net::StreamSocket socket;
    socket.connect(addr, timeout);
    socket.setReceiveTimeout(timeout);
    socket.setSendTimeout(timeout);
    SmtpConnection smtp(socket);
    std::string text;
    int code = smtp.read_reply(&text, error);
    if (code < 0) return false;
    if (code != 220) {
      *error = "next hop greeting: " + text.substr(0, 200);
      return false;
    }
    if (!smtp.command("EHLO " + req.helo_name, 250, 250, error)) return false;
    if (!smtp.command("MAIL FROM:<" + req.sender + ">", 250, 250, error)) return false;
    for (const auto& r : req.recipients)
      if (!smtp.command("RCPT TO:<" + r + ">", 250, 251, error)) return false;
    if (!smtp.command("DATA", 354, 354, error)) return false;

    std::string out = "X-Sandgate-Released: " + one_line(req.released_header_value) + "\r\n";
    bool at_start = true, pending_cr = false;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *error = "cannot read stored message";
        return false;
      }
      if (n == 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        char c = buf[i];
        if (pending_cr) {
          pending_cr = false;
          out += "\r\n";  // CRLF, or a bare CR made into a line end
          at_start = true;
          if (c == '\n') continue;
        }
        if (c == '\r') {
          pending_cr = true;
          continue;
        }
        if (c == '\n') {
          out += "\r\n";
          at_start = true;
          continue;
        }
        if (at_start && c == '.') out += '.';
        out += c;
        at_start = false;
      }
      if (out.size() >= (1 << 16)) {
        if (!smtp.send(out, error)) return false;
        out.clear();
      }
    }
    if (pending_cr || !at_start) out += "\r\n";
    out += ".\r\n";
    if (!smtp.send(out, error)) return false;
    code = smtp.read_reply(&text, error);
    if (code < 0) return false;
    if (code != 250) {
      *error = "next hop refused the message: " + text.substr(0, 200);
      return false;
    }
    std::string ignored;
    smtp.command("QUIT", 221, 221, &ignored);  // the message is delivered either way
    return true;
  } catch (const Poco::Exception& e) {
    *error = "cannot reach next hop " + req.next_hop.to_string() + ": " + e.displayText();
  } catch (const std::exception& e) {
    *error = "cannot reach next hop " + req.next_hop.to_string() + ": " + e.what();
  }
  return false;
}

}  // namespace sandgate
