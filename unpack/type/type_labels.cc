// The label catalogue: every label detect_type can return, which of them run
// when double-clicked, and the file name extensions each is usually given.
// One table, so a new label is one row.
#include <array>

#include "unpack/type_detect.h"

namespace sandgate {
namespace {

using Exts = std::span<const std::string_view>;

struct LabelInfo {
  std::string_view label;
  bool executable;  // native executable, or a script a desktop runs on double-click
  Exts extensions;
};

template <size_t N>
constexpr Exts exts(const std::array<std::string_view, N>& a) {
  return Exts(a.data(), a.size());
}

constexpr std::array<std::string_view, 13> kPe = {
    "exe", "dll", "scr", "com", "cpl", "sys", "ocx", "drv", "efi", "ax", "mui", "tsp", "msstyles"};
constexpr std::array<std::string_view, 9> kElf = {"so",  "o",   "ko",  "elf", "bin",
                                                  "out", "axf", "run", "prx"};
constexpr std::array<std::string_view, 5> kMacho = {"dylib", "bundle", "o", "so", "kext"};
constexpr std::array<std::string_view, 1> kClass = {"class"};
constexpr std::array<std::string_view, 24>
    kOle2 = {"doc", "dot", "xls", "xlt", "xla", "ppt",  "pot",  "pps",
             "ppa", "msi", "msp", "mst", "msg", "vsd",  "vss",  "pub",
             "mpp", "wps", "hwp", "ole", "bin", "xlsx", "docx", "pptx"};  // encrypted OOXML is OLE2
constexpr std::array<std::string_view, 23> kOoxml = {
    "docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xltx", "xltm", "xlsb", "xlam", "pptx", "pptm",
    "potx", "potm", "ppsx", "ppsm", "ppam", "sldx", "thmx", "vsdx", "vsdm", "xps",  "oxps"};
constexpr std::array<std::string_view, 10> kOdf = {"odt", "ods", "odp", "odg", "odf",
                                                   "odb", "ott", "ots", "otp", "odm"};
constexpr std::array<std::string_view, 3> kJar = {"jar", "war", "ear"};
constexpr std::array<std::string_view, 2> kApk = {"apk", "xapk"};
constexpr std::array<std::string_view, 13> kZip = {
    "zip", "zipx", "epub",  "msix", "appx", "msixbundle", "appxbundle",
    "kmz", "xpi",  "nupkg", "whl",  "ipa",  "vsix"};
constexpr std::array<std::string_view, 1> kPdf = {"pdf"};
constexpr std::array<std::string_view, 3> kIso = {"iso", "img", "cdr"};
constexpr std::array<std::string_view, 3> kUdf = {"iso", "udf", "img"};
constexpr std::array<std::string_view, 2> kDmg = {"dmg", "img"};
constexpr std::array<std::string_view, 2> kVhd = {"vhd", "avhd"};
constexpr std::array<std::string_view, 2> kVhdx = {"vhdx", "avhdx"};
constexpr std::array<std::string_view, 7> kFsImage = {"img", "ima", "bin", "dsk",
                                                      "raw", "vfd", "flp"};
constexpr std::array<std::string_view, 1> kLnk = {"lnk"};
constexpr std::array<std::string_view, 3> kOneNote = {"one", "onepkg", "onetoc2"};
constexpr std::array<std::string_view, 2> kRtf = {"rtf", "doc"};
constexpr std::array<std::string_view, 9> kHtml = {"html", "htm",  "xhtml", "xht", "shtml",
                                                   "asp",  "aspx", "php",   "jsp"};
constexpr std::array<std::string_view, 1> kHta = {"hta"};
constexpr std::array<std::string_view, 2> kSvg = {"svg", "svgz"};
constexpr std::array<std::string_view, 1> kWsf = {"wsf"};
constexpr std::array<std::string_view, 4> kEml = {"eml", "mht", "mhtml", "mbox"};
constexpr std::array<std::string_view, 1> k7z = {"7z"};
constexpr std::array<std::string_view, 2> kRar = {"rar", "r00"};
constexpr std::array<std::string_view, 1> kTar = {"tar"};
constexpr std::array<std::string_view, 6> kGzip = {"gz", "tgz", "gzip", "emz", "wmz", "svgz"};
constexpr std::array<std::string_view, 3> kBzip2 = {"bz2", "tbz2", "tbz"};
constexpr std::array<std::string_view, 2> kXz = {"xz", "txz"};
constexpr std::array<std::string_view, 3> kZstd = {"zst", "zstd", "tzst"};
constexpr std::array<std::string_view, 1> kLz4 = {"lz4"};
constexpr std::array<std::string_view, 2> kLzma = {"lzma", "tlz"};
constexpr std::array<std::string_view, 2> kCompress = {"z", "taz"};
constexpr std::array<std::string_view, 2> kLzip = {"lz", "tlz"};
constexpr std::array<std::string_view, 2> kCab = {"cab", "msu"};
constexpr std::array<std::string_view, 1> kCpio = {"cpio"};
constexpr std::array<std::string_view, 2> kLha = {"lzh", "lha"};
constexpr std::array<std::string_view, 1> kArj = {"arj"};
constexpr std::array<std::string_view, 2> kXar = {"xar", "pkg"};
constexpr std::array<std::string_view, 4> kAr = {"a", "ar", "deb", "lib"};
constexpr std::array<std::string_view, 1> kChm = {"chm"};
constexpr std::array<std::string_view, 2> kTnef = {"dat", "tnef"};
constexpr std::array<std::string_view, 1> kBinHex = {"hqx"};
constexpr std::array<std::string_view, 9> kScript = {"sh", "bash", "zsh",     "ksh", "py",
                                                     "pl", "rb",   "command", "cgi"};
constexpr std::array<std::string_view, 4> kJs = {"js", "jse", "mjs", "cjs"};
constexpr std::array<std::string_view, 1> kVbs = {"vbs"};
constexpr std::array<std::string_view, 2> kVbe = {"vbe", "jse"};
constexpr std::array<std::string_view, 3> kPs1 = {"ps1", "psm1", "psd1"};
constexpr std::array<std::string_view, 2> kBat = {"bat", "cmd"};
constexpr std::array<std::string_view, 1> kPng = {"png"};
constexpr std::array<std::string_view, 4> kJpeg = {"jpg", "jpeg", "jpe", "jfif"};
constexpr std::array<std::string_view, 1> kGif = {"gif"};
constexpr std::array<std::string_view, 2> kBmp = {"bmp", "dib"};
constexpr std::array<std::string_view, 6> kTiff = {"tif", "tiff", "dng", "nef", "cr2", "arw"};
constexpr std::array<std::string_view, 1> kWebp = {"webp"};
constexpr std::array<std::string_view, 2> kIco = {"ico", "cur"};

constexpr LabelInfo kLabels[] = {
    {"pe", true, exts(kPe)},         {"elf", true, exts(kElf)},
    {"macho", true, exts(kMacho)},   {"class", false, exts(kClass)},
    {"ole2", false, exts(kOle2)},    {"ooxml", false, exts(kOoxml)},
    {"odf", false, exts(kOdf)},      {"jar", true, exts(kJar)},
    {"apk", false, exts(kApk)},      {"zip", false, exts(kZip)},
    {"pdf", false, exts(kPdf)},      {"iso9660", false, exts(kIso)},
    {"udf", false, exts(kUdf)},      {"dmg", false, exts(kDmg)},
    {"vhd", false, exts(kVhd)},      {"vhdx", false, exts(kVhdx)},
    {"fat", false, exts(kFsImage)},  {"ntfs", false, exts(kFsImage)},
    {"hfs", false, exts(kFsImage)},  {"apfs", false, exts(kFsImage)},
    {"mbr", false, exts(kFsImage)},  {"gpt", false, exts(kFsImage)},
    {"apm", false, exts(kFsImage)},
    {"lnk", false, exts(kLnk)},      {"onenote", false, exts(kOneNote)},
    {"rtf", false, exts(kRtf)},      {"html", false, exts(kHtml)},
    {"hta", true, exts(kHta)},       {"svg", false, exts(kSvg)},
    {"xml", false, Exts()},  // XML parts carry every extension under the sun
    {"wsf", true, exts(kWsf)},       {"eml", false, exts(kEml)},
    {"7z", false, exts(k7z)},        {"rar", false, exts(kRar)},
    {"tar", false, exts(kTar)},      {"gzip", false, exts(kGzip)},
    {"bzip2", false, exts(kBzip2)},  {"xz", false, exts(kXz)},
    {"zstd", false, exts(kZstd)},    {"lz4", false, exts(kLz4)},
    {"lzma", false, exts(kLzma)},    {"compress", false, exts(kCompress)},
    {"lzip", false, exts(kLzip)},    {"cab", false, exts(kCab)},
    {"cpio", false, exts(kCpio)},    {"lha", false, exts(kLha)},
    {"arj", false, exts(kArj)},      {"xar", false, exts(kXar)},
    {"ar", false, exts(kAr)},        {"chm", false, exts(kChm)},
    {"tnef", false, exts(kTnef)},    {"binhex", false, exts(kBinHex)},
    {"script", true, exts(kScript)}, {"js", true, exts(kJs)},
    {"vbs", true, exts(kVbs)},       {"vbe", true, exts(kVbe)},
    {"ps1", true, exts(kPs1)},       {"bat", true, exts(kBat)},
    {"png", false, exts(kPng)},      {"jpeg", false, exts(kJpeg)},
    {"gif", false, exts(kGif)},      {"bmp", false, exts(kBmp)},
    {"tiff", false, exts(kTiff)},    {"webp", false, exts(kWebp)},
    {"ico", false, exts(kIco)},      {"text", false, Exts()},
    {"data", false, Exts()},
};

constexpr auto kLabelNames = [] {
  std::array<std::string_view, std::size(kLabels)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kLabels[i].label;
  return names;
}();

const LabelInfo* find_label(std::string_view label) {
  for (const LabelInfo& l : kLabels)
    if (l.label == label) return &l;
  return nullptr;
}

}  // namespace

std::span<const std::string_view> known_type_labels() { return kLabelNames; }

bool is_known_type_label(std::string_view label) { return find_label(label) != nullptr; }

bool is_executable_label(std::string_view label) {
  const LabelInfo* l = find_label(label);
  return l && l->executable;
}

std::span<const std::string_view> extensions_for_label(std::string_view label) {
  const LabelInfo* l = find_label(label);
  return l ? l->extensions : Exts();
}

}  // namespace sandgate
