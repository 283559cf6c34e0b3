// The content filter: what happens to one received message. Scans it (the
// engine, channel "mail"), then applies the policy's action: pass and tag
// relay to the next hop (with X-Sandgate-* headers, and a Subject prefix for
// tag); quarantine stores it; reject answers 550 5.7.1; tempfail answers 451.
// strip stores the original in the quarantine, then relays a copy in which
// each offending attachment is replaced by a text/plain notice
// (gateway/smtp/mime_strip.h); when an offending object cannot be located in
// an attachment part (the message itself, body text, anything unmatched) the
// whole message is held instead and the reply says so (fail closed).
//
// Guarantees (the never-lose rule, ARCHITECTURE.md "SMTP"): the reply is 2xx
// only when the next hop answered 2xx to the end of data (its answer is passed
// on) or QuarantineStore::put() returned an id (durable by its contract).
// For strip both hold: the original is stored first, and the stripped copy is
// acknowledged only with the next hop's 2xx (on a next hop failure the stored
// copy is marked deleted and the sender retries).
// Every other outcome (engine error or exception, next hop down or slow, no
// quarantine store, store failure) is a 4xx so the sender keeps the message.
// Thread-safe if the scan function, relay and store are.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "gateway/engine.h"
#include "gateway/quarantine/store.h"
#include "gateway/smtp/smtp_relay.h"
#include "gateway/smtp/smtp_session.h"

namespace sandgate::smtp {

struct FilterOptions {
  bool verdict_header = true;  // X-Sandgate-Verdict: pass|quarantine (action=...)
  bool report_header = true;   // X-Sandgate-Report: id=...; reasons=...
  std::string tag_subject_prefix = "[SUSPICIOUS] ";
  std::string profile;  // empty: the policy's default profile for mail
  // Notices of held mail (action quarantine), sent through the next hop
  // after the message is stored, with the null envelope sender (<>) so that
  // they can never bounce back into a loop. A notice that cannot be sent is
  // logged; the held message and the 250 stand.
  bool notify_recipients = false;  // tell each recipient a message was held
  std::string notify_admin;        // and/or this address; empty: none
  std::string notice_from = "MAILER-DAEMON";  // From: of notices
  std::string spool_dir = "/tmp";             // where a notice is written before relaying
  // Told of every message answered (metrics): the policy's action, or
  // "error" when the message could not be scanned, and the reply code the
  // sending server got. May be empty.
  std::function<void(const std::string& action, int reply_code)> on_message;
};

// Runs the engine; may throw (answered 451). Tests pass a fake.
using ScanFunction = std::function<Report(const Submission&)>;
using LogFunction = std::function<void(const std::string& json_line)>;

class ContentFilter : public DeliveryHandler {
 public:
  // `store` may be null: quarantine then tempfails (never acknowledged).
  ContentFilter(ScanFunction scan, Relay& relay, QuarantineStore* store, FilterOptions options,
                LogFunction log = {});
  Reply deliver(const Envelope& envelope, const std::string& spool_path, uint64_t size) override;

 private:
  Reply quarantine(const Envelope& env, const std::string& spool_path, uint64_t size,
                   const Report& report, const std::string& note);
  // Stores the original; returns its id, or nullopt with the 4xx to answer.
  std::optional<std::string> store_original(const Envelope& env, const std::string& spool_path,
                                            uint64_t size, const Report& report, Reply* reply);
  Reply strip(const Envelope& env, const std::string& spool_path, uint64_t size,
              const Report& report);
  MessageRewrite relay_headers(const Report& report, const std::string& extra) const;
  void send_notices(const Envelope& env, const std::string& subject, const Report& report,
                    const std::string& id);

  ScanFunction scan_;
  Relay& relay_;
  QuarantineStore* store_;
  FilterOptions options_;
  LogFunction log_;
};

// First Subject field value of the message in `path` (header section only,
// bounded read); empty when none.
std::string read_subject(const std::string& path);

}  // namespace sandgate::smtp
