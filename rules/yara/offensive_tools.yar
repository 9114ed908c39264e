/*
 * cleanroom starter pack: attack tools found on compromised systems.
 *
 * Credential theft (Mimikatz, Rubeus), command-and-control implants (Cobalt
 * Strike, Meterpreter), offensive PowerShell (PowerSploit and friends),
 * Active Directory reconnaissance (SharpHound/BloodHound), Impacket's remote
 * execution and secrets dumping scripts, reverse shells and cryptocurrency
 * miners. Each rule asks for strings that only the tool carries, usually two
 * of them, so that a document that merely names a tool does not match.
 *
 * Note: Impacket and XMRig are also packaged by Linux distributions; a copy
 * installed from such a package is reported too (an administrator should
 * know why a server holds it).
 *
 * Detection rule files (YARA, Sigma, Snort/Suricata, OSSEC/Wazuh), which
 * quote these strings, are left alone. Rule identifiers are the indicator
 * names ("yara:<rule>"): keep them unique across all rule files.
 */

private rule Offensive_Tools_Detection_Rule_Source
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

rule Mimikatz_Credential_Theft
{
    meta:
        description = "Mimikatz (credential theft from Windows memory) or a script that drives it"
        category = "malware"
        severity = "critical"

    strings:
        $cmd1 = "sekurlsa::logonpasswords" nocase ascii wide
        $cmd2 = "sekurlsa::pth" nocase ascii wide
        $cmd3 = "sekurlsa::tickets" nocase ascii wide
        $cmd4 = "lsadump::sam" nocase ascii wide
        $cmd5 = "lsadump::dcsync" nocase ascii wide
        $cmd6 = "lsadump::lsa" nocase ascii wide
        $cmd7 = "lsadump::secrets" nocase ascii wide
        $cmd8 = "kerberos::golden" nocase ascii wide
        $cmd9 = "kerberos::ptt" nocase ascii wide
        $cmd10 = "privilege::debug" nocase ascii wide
        $cmd11 = "misc::skeleton" nocase ascii wide
        $cmd12 = "token::elevate" nocase ascii wide
        $cmd13 = "crypto::capi" nocase ascii wide
        $author = "gentilkiwi" nocase ascii wide
        $name = "mimikatz" nocase ascii wide

    condition:
        (2 of ($cmd*) or (uint16(0) == 0x5A4D and $author and $name)) and
        not Offensive_Tools_Detection_Rule_Source
}

rule CobaltStrike_Beacon
{
    meta:
        description = "Cobalt Strike beacon (command-and-control implant): its configuration block or its messages"
        category = "malware"
        severity = "critical"

    strings:
        // The beacon configuration starts with settings 1 (protocol) and 2
        // (port), each "id, type 1, length 2, value", XORed with 0x69 (3.x)
        // or 0x2e (4.x).
        $config3 = { 69 68 69 68 69 6B ?? ?? 69 6B 69 68 69 6B ?? ?? 69 }
        $config4 = { 2E 2F 2E 2F 2E 2C ?? ?? 2E 2C 2E 2F 2E 2C ?? ?? 2E }
        $msg1 = "%s as %s\\%s: %d" ascii
        $msg2 = "beacon.dll" ascii wide
        $msg3 = "beacon.x64.dll" ascii wide
        $msg4 = "Started service %s on %s" ascii
        $msg5 = "could not run command (w/ token) because of its length of %d bytes!" ascii
        $msg6 = "IEX (New-Object Net.Webclient).DownloadString('http://127.0.0.1:%u/')" ascii wide
        $pipe1 = "MSSE-%d-server" ascii wide
        $pipe2 = "\\\\.\\pipe\\msagent_" ascii wide

    condition:
        ($config3 or $config4 or 2 of ($msg*, $pipe*)) and not Offensive_Tools_Detection_Rule_Source
}

rule Metasploit_Meterpreter
{
    meta:
        description = "Metasploit Meterpreter (remote control implant)"
        category = "malware"
        severity = "critical"

    strings:
        $m1 = "metsrv.dll" ascii wide
        $m2 = "metsrv.x64.dll" ascii wide
        $m3 = "ext_server_stdapi" ascii wide
        $m4 = "stdapi_sys_process_execute" ascii wide
        $m5 = "stdapi_fs_file_expand_path" ascii wide
        $m6 = "priv_elevate_getsystem" ascii wide
        $m7 = "core_channel_open" ascii wide
        $m8 = "core_loadlib" ascii wide
        $m9 = "ReflectiveLoader" ascii

    condition:
        2 of them and not Offensive_Tools_Detection_Rule_Source
}

rule Offensive_PowerShell
{
    meta:
        description = "Offensive PowerShell (PowerSploit, Nishang, PowerView, Empire-style modules)"
        category = "malware"
        severity = "high"

    strings:
        $p1 = "Invoke-Mimikatz" nocase ascii wide
        $p2 = "Invoke-ReflectivePEInjection" nocase ascii wide
        $p3 = "Invoke-Shellcode" nocase ascii wide
        $p4 = "Invoke-TokenManipulation" nocase ascii wide
        $p5 = "Get-GPPPassword" nocase ascii wide
        $p6 = "Invoke-Kerberoast" nocase ascii wide
        $p7 = "Invoke-DCSync" nocase ascii wide
        $p8 = "Invoke-PowerShellTcp" nocase ascii wide
        $p9 = "Invoke-SMBExec" nocase ascii wide
        $p10 = "Invoke-WMIExec" nocase ascii wide
        $p11 = "Invoke-ShareFinder" nocase ascii wide
        $p12 = "Get-NetDomainController" nocase ascii wide
        $p13 = "Invoke-UserHunter" nocase ascii wide

    condition:
        any of them and not Offensive_Tools_Detection_Rule_Source
}

rule Rubeus_Kerberos_Abuse
{
    meta:
        description = "Rubeus (Kerberos ticket theft and abuse)"
        category = "malware"
        severity = "critical"

    strings:
        $name = "Rubeus" ascii wide fullword
        $a1 = "[*] Action: Ask TGT" ascii wide
        $a2 = "[*] Action: Kerberoasting" ascii wide
        $a3 = "[*] Action: AS-REP roasting" ascii wide
        $a4 = "[*] Action: S4U" ascii wide
        $a5 = "[*] Action: Import Ticket" ascii wide
        $a6 = "[*] Action: Dump Kerberos Ticket Data" ascii wide
        $c1 = "asktgt" ascii wide fullword
        $c2 = "kerberoast" ascii wide fullword
        $c3 = "asreproast" ascii wide fullword

    condition:
        ($name and (1 of ($a*) or 2 of ($c*))) and not Offensive_Tools_Detection_Rule_Source
}

rule SharpHound_BloodHound_Collector
{
    meta:
        description = "SharpHound / BloodHound collector (Active Directory attack-path reconnaissance)"
        category = "malware"
        severity = "high"

    strings:
        $invoke = "Invoke-BloodHound" nocase ascii wide
        $lib = "SharpHoundCommonLib" ascii wide
        $sharp = "SharpHound" ascii wide
        $blood = "BloodHound" ascii wide
        $method = "CollectionMethod" ascii wide

    condition:
        ($invoke or $lib or ($sharp and $blood and $method)) and not Offensive_Tools_Detection_Rule_Source
}

rule Impacket_Remote_Exec_Or_Dump
{
    meta:
        description = "Impacket attack script: remote execution (psexec, smbexec, wmiexec) or secrets dumping"
        category = "malware"
        severity = "high"

    strings:
        $import = "from impacket" ascii
        $t1 = "%COMSPEC% /Q /c echo" ascii
        $t2 = "cmd.exe /Q /c " ascii
        $t3 = "RemComSvc" ascii
        $t4 = "Dumping Domain Credentials" ascii
        $t5 = "Dumping local SAM hashes" ascii
        $t6 = "Dumping LSA Secrets" ascii
        $t7 = "Dumping cached domain logon information" ascii

    condition:
        $import and any of ($t*) and not Offensive_Tools_Detection_Rule_Source
}

rule Reverse_Shell_Command
{
    meta:
        description = "Reverse shell: a command that connects a shell to a remote host (bash /dev/tcp, netcat -e, socat exec, fifo pipe, scripted sockets)"
        category = "malware"
        severity = "high"

    strings:
        $bash_tcp = /(ba|z)?sh\s{1,4}-i\s{1,4}[0-9]?>&\s{0,4}\/dev\/(tcp|udp)\/[^\/\s'"]{1,100}\/[0-9]{1,5}/
        $dev_tcp = /\/dev\/tcp\/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\/[0-9]{1,5}\s{0,4}0>&1/
        $exec_tcp = /exec\s{1,4}[0-9]{1,3}<>\s{0,4}\/dev\/tcp\//
        $nc_e = /\bn(c|cat|etcat)(\.traditional|\.openbsd)?\s([^\n|;&]{0,100}\s)?(-[a-zA-Z]{0,3}[ec]|--exec|--sh-exec)\s{0,4}\/bin\/(ba|z|da)?sh\b/
        $fifo = /mkfifo\s{1,4}\/tmp\/[^\s;]{1,40};\s{0,4}(cat|tail\s{1,4}-f)\s{1,4}\/tmp\/[^\s|]{1,40}\s{0,4}\|\s{0,4}\/bin\/(ba|z|da)?sh\s{1,4}-i/
        $socat = /socat\s[^\n]{0,200}exec:['"]?[^\s'"]{0,40}(ba|z|da)?sh\b[^\n]{0,200}(tcp|tcp4|tcp6|openssl|ssl)(-connect)?:/ nocase
        $socat2 = /socat\s[^\n]{0,200}(tcp|tcp4|tcp6|openssl|ssl)(-connect)?:[^\s]{1,100}\s[^\n]{0,100}exec:['"]?[^\s'"]{0,40}(ba|z|da)?sh\b/ nocase
        $python = /socket\.socket\([^\n]{0,400}\.connect\(\([^\n]{0,400}os\.dup2\([^\n]{0,400}(subprocess\.call|pty\.spawn|os\.system)\(/
        $perl = /use\s{1,4}Socket;[^\n]{0,400}connect\(S,[^\n]{0,400}open\(\s{0,4}STDIN,[^\n]{0,400}exec\(/
        $php = /fsockopen\([^\n]{1,200}(exec|shell_exec|system|passthru|proc_open|popen)\(\s{0,4}["']\/bin\/(ba|z|da)?sh\s{1,4}-i/

    condition:
        any of them and not Offensive_Tools_Detection_Rule_Source
}

rule Cryptocurrency_Miner
{
    meta:
        description = "Cryptocurrency miner (XMRig or similar), its configuration or its command line"
        category = "malware"
        severity = "high"

    strings:
        $stratum1 = "stratum+tcp://" ascii wide
        $stratum2 = "stratum+ssl://" ascii wide
        $stratum3 = "stratum+tls://" ascii wide
        $donate = "donate-level" ascii wide
        $xmrig = "xmrig" nocase ascii wide
        $pools = "\"pools\"" ascii wide
        $randomx = "randomx" nocase ascii wide
        $cn = "cryptonight" nocase ascii wide
        $cpuminer = "cpuminer" nocase ascii wide
        $nicehash = "nicehash" nocase ascii wide
        // xmrig -o stratum+tcp://pool.example:3333 -u WALLET
        $cmdline = /(xmrig|minerd|cpuminer)[^\n]{0,200}\s(-o|--url)[= ]{1,4}(stratum\+(tcp|ssl|tls):\/\/)?[A-Za-z0-9.\-]{1,100}:[0-9]{2,5}/ nocase

    condition:
        ($cmdline or
         ($donate and ($xmrig or $pools or $randomx or $cn or any of ($stratum*))) or
         (any of ($stratum*) and ($cpuminer or $nicehash or $cn or $randomx))) and
        not Offensive_Tools_Detection_Rule_Source
}
