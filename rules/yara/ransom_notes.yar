/*
 * cleanroom starter pack: ransom notes.
 *
 * Ransomware leaves a note in every folder it encrypted. Whatever the family,
 * the note says three things: your files are encrypted (or stolen), here is
 * how to get them back (a decryptor, a key), and here is how to pay or to
 * reach us (Tor, bitcoin, Monero); most add warnings (do not rename, do not
 * use third-party tools, we will publish your data). One phrase alone is
 * common in security documents; the rule asks for the statement, the contact
 * and a recovery or warning phrase, and for at least four distinct phrases,
 * in a small file. The note's file names are matched separately (the
 * ransom-notes.txt data file, indicator "ransomware:note").
 *
 * Detection rule files (YARA, Sigma, Snort/Suricata, OSSEC/Wazuh), which
 * quote these phrases, are left alone. Rule identifiers are the indicator
 * names ("yara:<rule>"): keep them unique across all rule files.
 */

private rule Ransom_Notes_Detection_Rule_Source
{
    // YARA, Sigma, Snort/Suricata and OSSEC/Wazuh rule files quote the very
    // strings these rules look for: they are not what they describe.
    strings:
        $yara_condition = "condition:"
        $yara_strings = "strings:"
        $sigma_logsource = "logsource:"
        $sigma_detection = "detection:"
        $ids_content = "content:\""
        $ids_sid = "sid:"
        $ossec_rule = "<rule id=\""
        $ossec_level = "level=\""
    condition:
        ($yara_condition and $yara_strings) or ($sigma_logsource and $sigma_detection) or
        ($ids_content and $ids_sid) or ($ossec_rule and $ossec_level)
}

rule Ransom_Note_Text
{
    meta:
        description = "Ransom note: says files were encrypted, how to pay or make contact, and how to get a decryptor"
        category = "ransomware"
        severity = "high"

    strings:
        // The statement.
        $enc1 = "files have been encrypted" nocase ascii wide
        $enc2 = "files are encrypted" nocase ascii wide
        $enc3 = "files were encrypted" nocase ascii wide
        $enc4 = "stolen and encrypted" nocase ascii wide
        $enc5 = "encrypted and stolen" nocase ascii wide
        $enc6 = "data has been encrypted" nocase ascii wide
        $enc7 = "network has been encrypted" nocase ascii wide
        $enc8 = "we have encrypted" nocase ascii wide
        $enc9 = "files are currently encrypted" nocase ascii wide
        $enc10 = "has been hit by" nocase ascii wide
        $enc11 = /files (on|in) your (network|computer|system|server)s? (was|were|are|have been) encrypted/ nocase ascii wide
        $enc12 = "files have been locked" nocase ascii wide

        // The way back.
        $dec1 = "decrypt your files" nocase ascii wide
        $dec2 = "decryption key" nocase ascii wide
        $dec3 = "decryptor" nocase ascii wide
        $dec4 = "decrypter" nocase ascii wide
        $dec5 = "decryption tool" nocase ascii wide
        $dec6 = "decryption software" nocase ascii wide
        $dec7 = "recover your files" nocase ascii wide
        $dec8 = "restore your files" nocase ascii wide
        $dec9 = "decrypt one file" nocase ascii wide
        $dec10 = "test decryption" nocase ascii wide
        $dec11 = "personal id" nocase ascii wide
        $dec12 = "decryption id" nocase ascii wide

        // Payment and contact.
        $pay1 = ".onion" nocase ascii wide
        $pay2 = "tor browser" nocase ascii wide
        $pay3 = "bitcoin" nocase ascii wide
        $pay4 = "monero" nocase ascii wide
        $pay5 = "btc wallet" nocase ascii wide
        $pay6 = "torproject.org" nocase ascii wide
        $pay7 = "qtox" nocase ascii wide
        $pay8 = "tox id" nocase ascii wide
        $pay9 = "BTC" fullword ascii wide
        $pay10 = "onionmail" nocase ascii wide

        // Warnings.
        $warn1 = "do not rename" nocase ascii wide
        $warn2 = "don't rename" nocase ascii wide
        $warn3 = "do not try to decrypt" nocase ascii wide
        $warn4 = "don't try to decrypt" nocase ascii wide
        $warn5 = "third-party software" nocase ascii wide
        $warn6 = "third party software" nocase ascii wide
        $warn7 = "do not modify" nocase ascii wide
        $warn8 = "will be published" nocase ascii wide
        $warn9 = "permanent data loss" nocase ascii wide
        $warn10 = "lost forever" nocase ascii wide
        $warn11 = "we have downloaded" nocase ascii wide
        $warn12 = "do not delete" nocase ascii wide

    condition:
        filesize < 256KB and
        1 of ($enc*) and 1 of ($pay*) and (1 of ($dec*) or 1 of ($warn*)) and
        4 of ($enc*, $dec*, $pay*, $warn*) and
        not Ransom_Notes_Detection_Rule_Source
}
