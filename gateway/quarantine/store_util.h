// Helpers shared by the quarantine backends so that they agree exactly on
// list-filter semantics, the state machine and the JSON encoding of the list
// columns. Internal to gateway/quarantine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/quarantine/store.h"

namespace Poco::Data {
class RecordSet;
}

namespace sandgate::quarantine_detail {

// The item columns both SQL backends store, in this order, and an item read
// back from a row of them.
inline constexpr const char* kItemColumns =
    "id, created_ms, channel, profile, policy_sha256, sender, recipients, client_address, "
    "subject, file_names, size, verdict, action, reasons, report_json, state";
QuarantineItem item_from_row(Poco::Data::RecordSet& rs);

int64_t now_unix_ms();
// A fresh id: 32 lower-case hex digits from 128 random bits; false when the
// system has no randomness to give.
bool new_quarantine_id(std::string* id);
// A JSON array of strings, and back (a broken value decodes as empty: it is
// our own column, and must not make list() fail).
std::string encode_list(const std::vector<std::string>& v);
std::vector<std::string> decode_list(const std::string& text);
// The sender / recipient / reason part of a filter (addresses compare
// case-insensitively, reasons exactly; all are substring matches). Time range
// and state are the backend's to apply (in its query).
bool matches_text_filters(const QuarantineFilter& f, const QuarantineItem& item);
// held -> released, held -> deleted, released -> deleted.
bool transition_allowed(QuarantineState from, QuarantineState to);

}  // namespace sandgate::quarantine_detail
