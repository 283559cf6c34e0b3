// The content filter (see content_filter.h): scan, then relay, store or refuse.
#include "gateway/smtp/content_filter.h"

#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

#include "gateway/report_json.h"
#include "gateway/smtp/mime_strip.h"

namespace sandgate::smtp {

namespace {

// Header field text from untrusted names (object paths, rule names): printable
// ASCII only, so nothing can inject a CRLF or a new field, and short enough to
// stay under RFC 5322's 998-byte line limit.
std::string header_safe(std::string_view s, size_t max = 900) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) break;
    out += (c < 32 || c >= 127) ? '?' : static_cast<char>(c);
  }
  return out;
}

std::string reason_text(const Report& report, size_t max_reasons = 3) {
  std::string s;
  for (size_t i = 0; i < report.decision.reasons.size() && i < max_reasons; ++i) {
    const auto& r = report.decision.reasons[i];
    if (i) s += ", ";
    s += r.rule + " (" + r.finding + (r.object.empty() ? "" : " in " + r.object) + ")";
  }
  if (report.decision.reasons.size() > max_reasons) s += ", ...";
  return s;
}

std::string json_line(const Envelope& env, const Report* report, const std::string& action,
                      const Reply& reply, uint64_t size) {
  std::string l = "{\"event\":\"smtp\",\"client\":";
  append_json_string(l, env.original_client());
  l += ",\"from\":";
  append_json_string(l, env.sender);
  l += ",\"rcpt\":" + std::to_string(env.recipients.size());
  l += ",\"size\":" + std::to_string(size);
  l += ",\"action\":";
  append_json_string(l, action);
  if (report) {
    l += ",\"id\":";
    append_json_string(l, report->id);
  }
  l += ",\"reply\":";
  append_json_string(
      l, std::to_string(reply.code) + " " + reply.text.substr(0, reply.text.find('\n')));
  l += "}";
  return l;
}

}  // namespace

std::string read_subject(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return {};
  std::string head(64 * 1024, '\0');
  head.resize(std::fread(head.data(), 1, head.size(), f.get()));
  size_t end = head.find("\r\n\r\n");
  if (end != std::string::npos) head.resize(end + 2);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string::npos) eol = head.size();
    if (eol - pos >= 8 && strncasecmp(head.data() + pos, "subject:", 8) == 0) {
      std::string v = head.substr(pos + 8, eol - pos - 8);
      // Unfold continuation lines (RFC 5322 2.2.3).
      size_t next = eol + 2;
      while (next < head.size() && (head[next] == ' ' || head[next] == '\t')) {
        size_t e2 = head.find("\r\n", next);
        if (e2 == std::string::npos) e2 = head.size();
        v += head.substr(next, e2 - next);
        next = e2 + 2;
      }
      size_t b = v.find_first_not_of(" \t");
      return b == std::string::npos ? "" : v.substr(b, 998);
    }
    pos = eol + 2;
  }
  return {};
}

ContentFilter::ContentFilter(ScanFunction scan, Relay& relay, QuarantineStore* store,
                             FilterOptions options, LogFunction log)
    : scan_(std::move(scan)),
      relay_(relay),
      store_(store),
      options_(std::move(options)),
      log_(std::move(log)) {}

std::optional<std::string> ContentFilter::store_original(const Envelope& env,
                                                         const std::string& spool_path,
                                                         uint64_t size, const Report& report,
                                                         Reply* reply) {
  if (!store_) {
    *reply =
        Reply{451, "4.3.0 Error: the message must be quarantined but no quarantine store is open"};
    return std::nullopt;
  }
  QuarantineItem item;
  item.channel = "mail";
  item.profile = report.decision.profile;
  item.policy_sha256 = report.decision.policy_sha256;
  item.sender = env.sender;
  for (const auto& r : env.recipients) item.recipients.push_back(r.address);
  item.client_address = env.original_client();
  item.subject = read_subject(spool_path);
  std::set<std::string> names;
  for (const auto& o : report.objects)
    if (o.depth > 0 && !o.name.empty() && names.size() < 100 && names.insert(o.name).second)
      item.file_names.push_back(o.name);
  item.size = size;
  item.verdict = "quarantine";
  item.action = std::string(action_name(report.decision.action));
  for (const auto& r : report.decision.reasons)
    item.reasons.push_back(r.rule + " " + r.object + " " + r.finding);
  item.report_json = report_to_json(report);
  std::string error;
  std::optional<std::string> id;
  try {
    id = store_->put(spool_path, std::move(item), &error);
  } catch (...) {
    error = "exception in the quarantine store";
  }
  if (!id)
    *reply = Reply{
        451, "4.3.0 Error: cannot store the message in quarantine: " + header_safe(error, 200)};
  return id;
}

Reply ContentFilter::quarantine(const Envelope& env, const std::string& spool_path, uint64_t size,
                                const Report& report, const std::string& note) {
  Reply reply;
  std::optional<std::string> id = store_original(env, spool_path, size, report, &reply);
  if (!id) return reply;
  if (options_.notify_recipients || !options_.notify_admin.empty())
    send_notices(env, read_subject(spool_path), report, *id);
  return Reply{250, "2.0.0 Ok: held in quarantine as " + header_safe(*id, 100) + note};
}

void ContentFilter::send_notices(const Envelope& env, const std::string& subject,
                                 const Report& report, const std::string& id) {
  Envelope notice;
  notice.helo = env.helo;
  notice.esmtp = true;
  notice.sender = "";  // null reverse-path: a notice is never answered by a bounce
  if (options_.notify_recipients)
    for (const auto& r : env.recipients) notice.recipients.push_back({r.address, {}});
  if (!options_.notify_admin.empty()) notice.recipients.push_back({options_.notify_admin, {}});
  if (notice.recipients.size() > 1000) notice.recipients.resize(1000);
  if (notice.recipients.empty()) return;
  // Everything from the message is sanitised to one bounded line: a hostile
  // Subject or file name must not inject headers into the notice.
  std::string names;
  size_t shown = 0;
  for (const auto& o : report.objects) {
    if (o.depth == 0 || o.name.empty() || shown >= 10) continue;
    names += "  - " + header_safe(o.name, 200) + "\r\n";
    ++shown;
  }
  std::string text;
  text += "From: " + header_safe(options_.notice_from, 200) + "\r\n";
  text += "To: undisclosed-recipients:;\r\n";
  text += "Subject: A message to you was held for review\r\n";
  text += "Auto-Submitted: auto-generated\r\n";
  text += "X-Sandgate-Quarantine-Id: " + header_safe(id, 100) + "\r\n";
  text += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n";
  text += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  text += "A message was held by the mail gateway because of its content.\r\n\r\n";
  text += "From:     " + header_safe(env.sender.empty() ? "<>" : env.sender, 300) + "\r\n";
  text += "Subject:  " + header_safe(subject, 300) + "\r\n";
  text += "Reasons:  " + header_safe(reason_text(report), 600) + "\r\n";
  text += "Held as:  " + header_safe(id, 100) + "\r\n";
  if (!names.empty()) text += "Files:\r\n" + names;
  text += "\r\nAsk your mail administrator to release it if you expected it.\r\n";
  std::string path = options_.spool_dir + "/notice-XXXXXX";
  int fd = ::mkstemp(path.data());
  bool ok = fd >= 0;
  if (ok) {
    size_t off = 0;
    while (ok && off < text.size()) {
      ssize_t w = ::write(fd, text.data() + off, text.size() - off);
      if (w < 0 && errno == EINTR) continue;
      ok = w > 0;
      if (ok) off += static_cast<size_t>(w);
    }
    ::close(fd);
  }
  std::string outcome;
  if (!ok) {
    outcome = "cannot write the notice";
  } else {
    RelayResult r = relay_.send(notice, path, MessageRewrite{});
    outcome = r.delivered ? "sent" : "not sent: " + std::to_string(r.reply.code) + " " +
                                         header_safe(r.reply.text, 200);
  }
  if (fd >= 0) ::unlink(path.c_str());
  if (log_) {
    std::string l = "{\"event\":\"notice\",\"quarantine_id\":";
    append_json_string(l, id);
    l += ",\"recipients\":" + std::to_string(notice.recipients.size()) + ",\"outcome\":";
    append_json_string(l, outcome);
    l += "}";
    log_(l);
  }
}

MessageRewrite ContentFilter::relay_headers(const Report& report, const std::string& extra) const {
  MessageRewrite rw;
  const std::string action_label(action_name(report.decision.action));
  const std::string why = header_safe(reason_text(report), 300);
  std::string verdict = report.decision.verdict_pass() ? "pass" : "quarantine";
  if (options_.verdict_header)
    rw.add_headers.push_back("X-Sandgate-Verdict: " + verdict + " (action=" + action_label + ")");
  if (options_.report_header)
    rw.add_headers.push_back("X-Sandgate-Report: id=" + header_safe(report.id, 64) +
                             "; policy=" + header_safe(report.decision.policy_name, 64) + extra +
                             (why.empty() ? "" : "; reasons=" + why));
  if (report.decision.action == Action::tag) rw.subject_prefix = options_.tag_subject_prefix;
  return rw;
}

// strip: plan first (an unlocatable offender holds the whole message), store
// the original, write the stripped copy next to the spool file, relay it.
Reply ContentFilter::strip(const Envelope& env, const std::string& spool_path, uint64_t size,
                           const Report& report) {
  std::string error;
  ByteSourcePtr message = open_file_source(spool_path, &error);
  StripPlan plan;
  if (message) {
    try {
      plan = plan_strip(message, report);
    } catch (...) {  // e.g. bad_alloc: fail closed like any other unlocated part
      plan = StripPlan();
      plan.why_not = "internal error while locating the parts";
    }
  } else {
    plan.why_not = "cannot read the spooled message";
  }
  if (!plan.ok)
    return quarantine(env, spool_path, size, report,
                      " (strip not possible: " + header_safe(plan.why_not, 200) + "; held whole)");

  Reply reply;
  std::optional<std::string> id = store_original(env, spool_path, size, report, &reply);
  if (!id) return reply;
  const std::string qid = header_safe(*id, 100);
  const std::string held = "2.0.0 Ok: held in quarantine as " + qid;

  // The stripped copy lives beside the spool file (same file system, same
  // clean-up), under a name of its own.
  std::string tmpl = spool_path + ".strip-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return Reply{250, held + " (strip failed: cannot create the stripped copy)"};
  std::FILE* out = ::fdopen(fd, "wb");
  if (!out) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    return Reply{250, held + " (strip failed: cannot create the stripped copy)"};
  }
  bool written = write_stripped(*message, plan, *id, out, &error);
  written = std::fclose(out) == 0 && written;
  if (!written) {
    ::unlink(tmpl.c_str());
    // The original is durably held: acknowledging is safe, and says what happened.
    return Reply{250, held + " (strip failed: " + header_safe(error, 100) + ")"};
  }
  RelayResult r;
  try {
    r = relay_.send(env, tmpl, relay_headers(report, "; quarantine=" + qid));
  } catch (...) {
    r = RelayResult{false, Reply{451, "4.4.2 Error: relay failed"}};
  }
  ::unlink(tmpl.c_str());
  reply = r.reply;
  if (r.delivered && reply.code / 100 == 2) {
    reply.text += " (" + std::to_string(plan.targets.size()) +
                  (plan.targets.size() == 1 ? " attachment" : " attachments") +
                  " stripped; original held in quarantine as " + qid + ")";
    return reply;
  }
  // Not delivered: the sender keeps the message and will send it again, so
  // the held copy would be a duplicate. Marking it deleted keeps the audit.
  std::string ignored;
  try {
    store_->set_state(*id, QuarantineState::deleted, "sandgate-smtp", &ignored);
  } catch (...) {
  }
  if (reply.code / 100 == 2) reply = Reply{451, "4.4.2 Error: next hop did not accept"};
  return reply;
}

Reply ContentFilter::deliver(const Envelope& env, const std::string& spool_path, uint64_t size) {
  Submission sub;
  sub.spool_path = spool_path;
  sub.name = "mail.eml";
  sub.facts.channel = "mail";
  sub.facts.profile = options_.profile;
  sub.facts.sender = env.sender;
  for (const auto& r : env.recipients) sub.facts.recipients.push_back(r.address);
  sub.facts.client_address = env.original_client();
  Report report;
  std::string action_label;
  Reply reply;
  try {
    report = scan_(sub);
  } catch (...) {
    reply = Reply{451, "4.3.0 Error: the message could not be scanned; try again later"};
    if (log_) log_(json_line(env, nullptr, "engine-error", reply, size));
    if (options_.on_message) options_.on_message("error", reply.code);
    return reply;
  }
  const Action action = report.decision.action;
  action_label = std::string(action_name(action));
  const std::string why = header_safe(reason_text(report), 300);
  switch (action) {
    case Action::pass:
    case Action::tag: {
      RelayResult r = relay_.send(env, spool_path, relay_headers(report, ""));
      reply = r.reply;
      // Only a 2xx from the next hop may become our 2xx.
      if (!r.delivered && reply.code / 100 == 2)
        reply = Reply{451, "4.4.2 Error: next hop did not accept"};
      break;
    }
    case Action::strip:
      reply = strip(env, spool_path, size, report);
      break;
    case Action::quarantine:
      reply = quarantine(env, spool_path, size, report, "");
      break;
    case Action::reject:
      reply = Reply{550, "5.7.1 Message rejected by policy" + (why.empty() ? "" : ": " + why)};
      break;
    case Action::tempfail:
      reply = Reply{451, "4.7.1 Message deferred by policy" + (why.empty() ? "" : ": " + why)};
      break;
  }
  if (log_) log_(json_line(env, &report, action_label, reply, size));
  if (options_.on_message) options_.on_message(action_label, reply.code);
  return reply;
}

}  // namespace sandgate::smtp
