// Content type detection. Precise checks of our own for the types whose exact
// identity matters for policy (PE, ELF, Mach-O, OLE2, OOXML, ODF, PDF, ISO9660,
// UDF, DMG, VHD/VHDX, FAT, LNK, OneNote, RTF, HTML, SVG, scripts ...), then
// libmagic (one loaded handle per thread) for the rest.
// Never looks at a name or a declared MIME type.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "unpack/byte_source.h"
#include "unpack/object.h"

namespace sandgate {

// Detects the type of the whole source. Reads only what it needs: the head,
// a few fixed offsets (ISO/UDF descriptors, DMG/VHD trailers, zip directory).
// Thread-safe. Never throws.
TypeInfo detect_type(const ByteSource& src);

// Every label detect_type can return, for validating policies.
std::span<const std::string_view> known_type_labels();
bool is_known_type_label(std::string_view label);

// Labels of native executables (pe, elf, macho) and of scripts that run when
// double-clicked on a desktop.
bool is_executable_label(std::string_view label);

// The usual file name extensions (lowercase, no dot) for a label, for the
// extension-mismatch check; empty when any name is fine (e.g. "data", "text").
std::span<const std::string_view> extensions_for_label(std::string_view label);

}  // namespace sandgate
