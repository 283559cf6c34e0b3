// Opens the quarantine backend the configuration names: the one place that
// maps QuarantineConfig (gateway/config.h) to a QuarantineStore, used by
// `sandgate serve` and `sandgate quarantine`.
//
//   backend: directory   -> DirectoryStore in q.dir, or DATA_DIR/quarantine
//   backend: postgresql  -> PostgresStore on the libpq connection string
//                           q.postgresql (items, content and audit in the
//                           database; any node sees what any node held)
//
// Returns nullptr with *error set when the backend name is unknown or the
// store cannot be opened (directory not creatable, database unreachable or
// schema not creatable). Never throws.
#pragma once

#include <memory>
#include <string>

#include "gateway/config.h"
#include "gateway/quarantine/store.h"

namespace sandgate {

std::unique_ptr<QuarantineStore> open_quarantine_store(const QuarantineConfig& q,
                                                       const std::string& data_dir,
                                                       std::string* error);

}  // namespace sandgate
