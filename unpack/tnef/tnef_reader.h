// TNEF reader ([MS-OXTNEF], the "winmail.dat" / application/ms-tnef body
// Outlook sends): walks the attribute stream of a TNEF message and reports
// each attachment as a window of the source (no copy) with its file name.
//
// Guarantees: reads through a ByteSource in small fixed-size pieces; every
// length is checked against the bytes left before it is used; at most
// max_attributes attributes and max_properties MAPI properties per block are
// read, so every input ends in time linear in its size. Malformed input is
// reported in TnefSummary (what the unpacker turns into findings); whatever
// was read before the damage is still reported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate::tnef {

// MS-OXTNEF 2.1.3.1: TNEFVersion.Signature.
inline constexpr uint32_t kSignature = 0x223E9F78;

// MS-OXTNEF 2.1.3.3 attribute identifiers (type in the high word).
inline constexpr uint32_t kAttAttachData = 0x0006800F;
inline constexpr uint32_t kAttAttachTitle = 0x00018010;
inline constexpr uint32_t kAttAttachRenddata = 0x00069002;
inline constexpr uint32_t kAttAttachment = 0x00069005;
inline constexpr uint32_t kAttMsgProps = 0x00069003;
inline constexpr uint32_t kAttOemCodepage = 0x00069007;
inline constexpr uint8_t kLevelMessage = 0x01;
inline constexpr uint8_t kLevelAttachment = 0x02;

// MAPI property tags ([MS-OXPROPS]) read from attAttachment blocks.
inline constexpr uint16_t kPrAttachDataBin = 0x3701;  // PT_BINARY or PT_OBJECT
inline constexpr uint16_t kPrAttachFilename = 0x3704;
inline constexpr uint16_t kPrAttachLongFilename = 0x3707;
inline constexpr uint16_t kPrAttachMimeTag = 0x370E;
inline constexpr uint16_t kPrDisplayName = 0x3001;

struct TnefOptions {
  size_t max_attributes = 100000;  // attributes in one stream
  size_t max_properties = 10000;   // MAPI properties in one attribute
  size_t max_attachments = 10000;
};

// A region of the source.
struct TnefRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct TnefAttachment {
  int index = 0;               // 1-based, in stream order
  std::string title;           // attAttachTitle (UTF-8)
  std::string long_filename;   // PR_ATTACH_LONG_FILENAME (UTF-8)
  std::string short_filename;  // PR_ATTACH_FILENAME
  std::string display_name;    // PR_DISPLAY_NAME
  std::string mime_tag;        // PR_ATTACH_MIME_TAG
  bool has_data = false;
  TnefRange data;                // attAttachData, else PR_ATTACH_DATA_BIN/OBJ
  bool embedded_object = false;  // data came from a PT_OBJECT (IID skipped)

  // The best name: long file name, then title, short name, display name.
  std::string best_name() const;
};

struct TnefSummary {
  bool signature_ok = false;
  size_t attributes = 0;
  size_t attachments = 0;
  uint64_t bad_checksums = 0;
  bool truncated = false;           // an attribute or property ran past the end
  bool too_many = false;            // a count cap was hit
  std::vector<std::string> errors;  // first few defects, for evidence
  uint64_t consumed = 0;            // furthest offset read
};

// Called for each attachment once all its attributes are read. Return false
// to stop reading.
using TnefAttachmentSink = std::function<bool(const TnefAttachment&)>;

// Reads the stream and calls sink for each attachment, in order.
TnefSummary read_tnef(const ByteSource& src, const TnefOptions& options,
                      const TnefAttachmentSink& sink);

}  // namespace sandgate::tnef
