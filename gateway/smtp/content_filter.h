// The content filter: what happens to one received message. Scans it (the
// engine, channel "mail"), then applies the policy's action: pass and tag
// relay to the next hop (with X-Sandgate-* headers, and a Subject prefix for
// tag); quarantine stores it; reject answers 550 5.7.1; tempfail answers 451.
// strip is not implemented yet and is applied as quarantine (the reply and the
// log say so).
//
// Guarantees (the never-lose rule, ARCHITECTURE.md "SMTP"): the reply is 2xx
// only when the next hop answered 2xx to the end of data (its answer is passed
// on) or QuarantineStore::put() returned an id (durable by its contract).
// Every other outcome (engine error or exception, next hop down or slow, no
// quarantine store, store failure) is a 4xx so the sender keeps the message.
// Thread-safe if the scan function, relay and store are.
#pragma once

#include <functional>
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
