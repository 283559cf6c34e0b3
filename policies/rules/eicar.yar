// Sandgate starter rules: the EICAR anti-virus test file.
// The test file is 68 printable characters, optionally followed by white
// space, 128 bytes at most (eicar.org, "Anti-Malware Testfile"). It lets an
// administrator check end to end that YARA findings reach the verdict.
// Shipped with policies/default.yaml; each match is the finding yara.RULE,
// with the severity of the rule's `severity` meta.

rule eicar_test_file : test
{
  meta:
    description = "the EICAR anti-virus test file"
    severity = "high"
  strings:
    $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition:
    $eicar at 0 and filesize <= 128
}
