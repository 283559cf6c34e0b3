// Random (version 4) UUIDs for report and request ids, from OpenSSL's
// CSPRNG (RAND_bytes: a user-space DRBG, no system call per id, unlike
// Poco's UUIDGenerator::createRandom which reads the kernel's generator),
// drawn 32 ids at a time per thread and never shared across fork.
#pragma once

#include <string>

namespace sandgate {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case hex.
std::string random_uuid();

}  // namespace sandgate
