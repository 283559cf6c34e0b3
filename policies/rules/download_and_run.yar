// Sandgate starter rules: script idioms that fetch code from the network and
// run it. Scripts, shortcuts' command lines, HTA and macro source, and text
// parts of documents all carry these one-liners; they are rare in ordinary
// mail and CVs, so a match is high severity.

rule download_and_run_powershell : script downloader
{
  meta:
    description = "PowerShell that runs an encoded command or downloaded code"
    severity = "high"
  strings:
    // powershell -enc / -e / -EncodedCommand <base64>
    $enc = /powershell(\.exe)?['"]?[ \t][^\r\n]{0,200}[-\/]e[a-z]{0,13}[ \t]+['"]?[a-z0-9+\/=]{20}/ nocase
    // IEX (New-Object Net.WebClient).DownloadString(...)
    $iex_webclient = /(iex|invoke-expression)[ \t]*\(?[ \t]*\(?[ \t]*new-object[ \t]+(system\.)?net\.webclient[ \t]*\)?[ \t]*\.[ \t]*download(string|data|file)/ nocase
    // (New-Object Net.WebClient).DownloadString(...) | IEX
    $webclient_pipe = /net\.webclient[ \t]*\)[ \t]*\.[ \t]*downloadstring[ \t]*\([^)\r\n]{1,300}\)[ \t]*\|[ \t]*(iex|invoke-expression)/ nocase
    // iwr / Invoke-WebRequest / irm ... | iex
    $web_pipe = /(iwr|irm|invoke-webrequest|invoke-restmethod)[ \t][^\r\n|]{1,300}\|[ \t]*(iex|invoke-expression)\b/ nocase
  condition:
    any of them
}

rule download_and_run_lolbin : script downloader
{
  meta:
    description = "a Windows system tool used to download or run remote code (certutil, mshta, bitsadmin, regsvr32)"
    severity = "high"
  strings:
    $certutil = /certutil(\.exe)?[ \t][^\r\n]{0,60}[-\/]urlcache/ nocase
    $mshta = /mshta(\.exe)?['"]?[ \t]+['"]?(https?|javascript|vbscript):/ nocase
    $bitsadmin = /bitsadmin(\.exe)?[ \t][^\r\n]{0,40}\/transfer[ \t]/ nocase
    $regsvr32 = /regsvr32(\.exe)?[ \t][^\r\n]{0,60}\/i:https?:/ nocase
  condition:
    any of them
}
