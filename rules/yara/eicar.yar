/*
 * cleanroom starter pack: the EICAR anti-malware test file.
 *
 * EICAR is a harmless 68-byte text that every anti-malware product agrees to
 * detect, so that detection can be tested without real malware. The file
 * must start with the string and may be followed by blanks only (at most 128
 * bytes in all). cleanroom's demo and tests use it to show a finding.
 *
 * Rule identifiers are the indicator names ("yara:EICAR_Test_File"): keep
 * them unique across all rule files.
 */

rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file (harmless; used to check that detection works)"
        category = "malware"
        severity = "critical"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"

    strings:
        // The backslash is escaped, so this file does not hold the test string itself.
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

    condition:
        $eicar at 0 and filesize <= 128
}
