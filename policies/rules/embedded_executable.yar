// Sandgate starter rules: a Windows program hidden inside a document.
// Documents carry programs as OLE packages (an Ole10Native stream: a small
// header, then the file), as RTF \objdata (the same bytes, hex-encoded), or
// as raw bytes appended to a PDF or a document part. A standalone program
// starts with "MZ" at offset 0 and is typed "pe" by the engine, so these rules
// only look at document-like objects, where an MZ header at any later offset
// means an executable travels inside. Archives are left out on purpose: their
// entries are unpacked and typed on their own.

private rule sandgate_document_object
{
  condition:
    type_label == "ole2" or type_label == "rtf" or type_label == "pdf" or
    type_label == "xml" or type_label == "html" or type_label == "text" or
    type_label == "onenote" or type_label == "data"
}

rule embedded_pe_in_document : executable embedded
{
  meta:
    description = "a Windows executable (MZ/PE header) embedded in a document or document part"
    severity = "high"
  strings:
    // The DOS stub every mainstream linker writes at offset 0x4E of the file.
    $stub = "This program cannot be run in DOS mode"
    $stub32 = "This program must be run under Win32"
  condition:
    sandgate_document_object and uint16(0) != 0x5A4D and
    for any i in (1..#stub) : (
      @stub[i] > 0x4E and uint16(@stub[i] - 0x4E) == 0x5A4D and
      uint32(@stub[i] - 0x4E + 0x3C) < 0x1000 and
      uint32(@stub[i] - 0x4E + uint32(@stub[i] - 0x4E + 0x3C)) == 0x00004550
    ) or
    for any j in (1..#stub32) : (
      @stub32[j] > 0x4E and uint16(@stub32[j] - 0x4E) == 0x5A4D
    )
}

rule embedded_pe_hex_in_rtf : executable embedded
{
  meta:
    description = "a hex-encoded Windows executable inside an RTF document (\\objdata)"
    severity = "high"
  strings:
    // "MZ", e_cblp 0x90, e_cp 3 ... as every MS linker writes it, in hex.
    $mz_hex = "4d5a90000300000004000000ffff" nocase
  condition:
    type_label == "rtf" and $mz_hex
}
