// Type detection of text formats: RTF, HTML, HTA, SVG, XML, WSF, e-mail,
// scripts (shebang, bat, ps1, vbs, js, encoded) and plain text, with the
// negative cases that must stay "text".
#include <doctest/doctest.h>

#include "tests/unpack/type/type_test_util.h"

namespace sandgate::test {

void check_type(std::string bytes, std::string_view label, std::string_view mime) {
  TypeInfo t = detect(std::move(bytes));
  CHECK(t.label == label);
  CHECK(t.mime == mime);
}

using namespace std::string_literals;

TEST_CASE("RTF, including the truncated signatures Word accepts") {
  check_type("{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} hello}", "rtf", "application/rtf");
  check_type("{\\rtxa\\ansi evil}", "rtf", "application/rtf");
  CHECK(detect("{\"rtf\": 1}").label == "text");
}

TEST_CASE("HTML and HTA") {
  check_type("<!DOCTYPE html>\n<html><body>hi</body></html>", "html", "text/html");
  check_type("\xEF\xBB\xBF  \r\n<HTML><HEAD><TITLE>x</TITLE></HEAD></HTML>", "html", "text/html");
  check_type("<div class=\"a\">hello</div>\n", "html", "text/html");
  check_type("<!-- saved page -->\n<script>location='http://x'</script>", "html", "text/html");
  // Text before the tags: browsers still render it.
  check_type("Dear user,\n<html><body><script>steal()</script></body></html>", "html", "text/html");
  check_type(
      "<html><head><HTA:APPLICATION ID=\"app\" WINDOWSTATE=\"minimize\"></head>"
      "<script language=\"VBScript\">CreateObject(\"WScript.Shell\").Run \"calc\"</script></html>",
      "hta", "application/hta");
  // Legacy 8-bit markup is still markup.
  check_type("<html><body>caf\xE9</body></html>", "html", "text/html");
  // A tag name that merely starts like an HTML one is not HTML.
  CHECK(detect("<abbrev>x</abbrev>").label == "xml");
  CHECK(detect("a < b and c > d\n").label == "text");
}

TEST_CASE("SVG, XML and WSF by root element after the prolog") {
  check_type(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- made by hand -->\n"
      "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
      "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
      "svg", "image/svg+xml");
  check_type("<svg width=\"10\" height=\"10\"><rect/></svg>", "svg", "image/svg+xml");
  check_type("<?xml version=\"1.0\"?><note><to>x</to></note>", "xml", "application/xml");
  check_type(
      "<?xml version=\"1.0\" standalone=\"yes\"?>\r\n<Types "
      "xmlns=\"http://schemas.openxmlformats.org/"
      "package/2006/content-types\"><Default Extension=\"xml\" "
      "ContentType=\"application/xml\"/></Types>",
      "xml", "application/xml");
  check_type("<note><to>x</to></note>", "xml", "application/xml");
  check_type("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>",
             "html", "text/html");
  check_type("<job id=\"a\"><script language=\"VBScript\">WScript.Echo 1</script></job>", "wsf",
             "text/x-wsf");
  check_type(
      "<?xml version=\"1.0\"?>\n<package>\n<job><script language=\"JScript\" "
      "src=\"a.js\"/></job>\n</package>",
      "wsf", "text/x-wsf");
  // UTF-16LE with a BOM.
  std::string u16 = "\xFF\xFE";
  for (char c : std::string_view("<?xml version=\"1.0\"?><a>b</a>")) {
    u16.push_back(c);
    u16.push_back('\0');
  }
  check_type(u16, "xml", "application/xml");
}

TEST_CASE("E-mail: RFC 5322 header lines at the start") {
  check_type(
      "Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
      "\tby mail.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: offer\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
      "eml", "message/rfc822");
  check_type("From: a@b\nTo: c@d\nSubject: hi\n\nbody\n", "eml", "message/rfc822");
  check_type("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n--x\n", "eml",
             "message/rfc822");
  // Key: value files are not messages.
  CHECK(detect("from: a\nto: b\n\nrest\n").label == "text");
  CHECK(detect("Name: value\nOther: thing\n\ntext\n").label == "text");
  CHECK(detect("Subject: hi\nthis line is not a header\nMIME-Version: 1.0\n").label == "text");
}

TEST_CASE("E-mail: known by the header section, whatever bytes the body holds") {
  // A NUL or other control bytes after the header section (a preamble, an
  // 8bit or binary body) once made a message "data", never unpacked.
  const std::string headers =
      "From: a@x.test\r\nTo: b@y.test\r\nSubject: offer\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=A\r\n\r\n";
  check_type(headers + "preamble \0\x01\x02\r\n--A\r\n"s, "eml",
             "message/rfc822");
  check_type(headers + std::string(20000, '\0'), "eml", "message/rfc822");
  // The header section itself must be text.
  CHECK(detect("From: a@x.test\r\nTo: b\0@y.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n\r\n"
               "body\r\n"s)
            .label != "eml");
}

TEST_CASE("Scripts: shebang, batch, PowerShell, VBScript, JScript, encoded") {
  check_type("#!/bin/sh\necho hello\n", "script", "text/x-shellscript");
  check_type("#! /usr/bin/env python3\nprint('x')\n", "script", "text/x-script.python");
  check_type("#!/usr/bin/perl -w\nprint 1;\n", "script", "text/x-perl");
  check_type("@echo off\r\nset X=1\r\nstart %X%\r\n", "bat", "text/x-msdos-batch");
  check_type("@ECHO OFF\r\nSET X=1\r\n", "bat", "text/x-msdos-batch");
  check_type("REM installer\r\n:: more\r\n\r\n@ECHO OFF\r\ncopy a b\r\n", "bat",
             "text/x-msdos-batch");
  check_type(
      "$ErrorActionPreference = 'Stop'\nWrite-Host 'x'\n"
      "Get-ChildItem $env:TEMP | ForEach-Object { Remove-Item $_ }\n",
      "ps1", "text/x-powershell");
  check_type("#Requires -Version 5\nparam([string]$Path)\nTest-Path $Path\n", "ps1",
             "text/x-powershell");
  // Tokens match in any case.
  check_type("$ERRORACTIONPREFERENCE = 1\nWRITE-HOST 'x'\nSTART-PROCESS calc\n", "ps1",
             "text/x-powershell");
  check_type(
      "Option Explicit\r\nDim sh\r\nSet sh = CreateObject(\"WScript.Shell\")\r\nsh.Run "
      "\"calc\"\r\n",
      "vbs", "text/vbscript");
  check_type("var sh = new ActiveXObject(\"WScript.Shell\");\nsh.Run(\"calc\");\n", "js",
             "text/javascript");
  check_type(
      "const a = require('fs');\nfunction f(x) { if (x === 1) { console.log(x); } "
      "}\nmodule.exports = f;\n",
      "js", "text/javascript");
  check_type("<%@ language=\"VBScript.Encode\" %>#@~^DgAAAA==\\ko$K6,JCV^GJqAQAAA==^#~@", "vbe",
             "text/vbscript.encode");
  // UTF-16LE PowerShell, as Windows editors save it.
  std::string u16 = "\xFF\xFE";
  for (char c :
       std::string_view("Write-Host 'a'\r\nNew-Object Net.WebClient\r\nStart-Process calc\r\n")) {
    u16.push_back(c);
    u16.push_back('\0');
  }
  check_type(u16, "ps1", "text/x-powershell");
}

TEST_CASE("Scripts: prose and other code stay text") {
  CHECK(detect("To list files, PowerShell users type Write-Host or Get-ChildItem.\n").label ==
        "text");
  CHECK(detect("Please dim the lights before the end sub-section of the talk.\n").label == "text");
  CHECK(detect("#include <stdio.h>\nint main(void) { const char* s = \"x\"; return 0; }\n").label ==
        "text");
  CHECK(detect("Meeting notes:\n- var 1\n- echo off the wall\n").label == "text");
  CHECK(detect("# Title\n\nSome *markdown* text.\n").label == "text");
  CHECK(detect("Attribute VB_Name = \"Module1\"\nSub AutoOpen()\nDim x\nx = "
               "CreateObject(\"WScript.Shell\")\n"
               "End Sub\n")
            .label == "text");
}

TEST_CASE("Plain text and data") {
  check_type("hello world\n", "text", "text/plain");
  check_type("h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC\n", "text", "text/plain");
  // Overlong UTF-8 is not text; libmagic then decides (never "text/plain" from us).
  TypeInfo bin =
      detect(std::string("\x00\x01\x02\x03\xFF\xFE\xFD\x80\x81", 9) + std::string(200, '\x07'));
  CHECK(bin.label == "data");
  TypeInfo empty = detect("");
  CHECK(empty.label == "data");
  CHECK(empty.mime == "application/x-empty");
  // Latin-1 text is left to libmagic, which calls it text.
  CHECK(detect("caf\xE9 cr\xE8me br\xFBl\xE9\x65, a long enough sentence in French.\n").label ==
        "text");
}

}  // namespace sandgate::test
