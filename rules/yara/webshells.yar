/*
 * cleanroom starter pack: web shells.
 *
 * A web shell is a script dropped in a web root that runs what an attacker
 * sends in a request. These rules look for the few constructs that hand
 * request data (PHP superglobals, ASP Request, JSP request.getParameter)
 * straight to code execution, and for the decode-then-eval chains that hide
 * such code. Ordinary web applications do not do this, so the rules fire on
 * the construct itself, not on single function names.
 *
 * Detection rule files (YARA, Sigma, Snort/Suricata, OSSEC/Wazuh), which
 * quote these constructs, are left alone. Rule identifiers are the indicator
 * names ("yara:<rule>"): keep them unique across all rule files.
 */

private rule Webshells_Detection_Rule_Source
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

rule PHP_Webshell_Request_Exec
{
    meta:
        description = "PHP code that runs commands or code taken from the web request (web shell)"
        category = "malware"
        severity = "critical"

    strings:
        // eval($_POST['x']), system($_GET["c"]), assert(@$_REQUEST[...]) ...
        $direct = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)\s{0,8}\(\s{0,8}@?\s{0,4}\$_(GET|POST|REQUEST|COOKIE)\s{0,4}\[/ nocase
        // eval(base64_decode($_POST['x'])), system(stripslashes($_GET['c'])) ...
        $decoded = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open)\s{0,8}\(\s{0,8}@?\s{0,4}(base64_decode|str_rot13|gzinflate|gzuncompress|gzdecode|urldecode|rawurldecode|stripslashes|hex2bin|strrev|trim)\s{0,8}\(\s{0,8}@?\s{0,4}\$_(GET|POST|REQUEST|COOKIE)\s{0,4}\[/ nocase
        // $_GET['f']($_GET['a']): the function itself comes from the request
        $dynamic = /\$_(GET|POST|REQUEST|COOKIE)\s{0,4}\[[^\]\n]{1,40}\]\s{0,4}\(\s{0,4}@?\s{0,4}\$_(GET|POST|REQUEST|COOKIE)\s{0,4}\[/
        // <?=`$_GET[c]`?>, echo `$_POST['c']`: shell execution by backticks
        $backtick = /(echo|print|<\?=|=)\s{0,4}`\s{0,4}\$_(GET|POST|REQUEST|COOKIE)\s{0,4}\[[^\]\n]{1,40}\]\s{0,4}`/
        // preg_replace('/.*/e', $_POST['x'], ...): the /e modifier evaluates the replacement
        $preg_e = /preg_replace\s{0,8}\(\s{0,8}['"][^'"\n]{1,200}[^a-zA-Z0-9\\'"\s][imsxuADSUX]{0,8}e[imsxuADSUX]{0,8}['"]\s{0,8},[^;\n]{0,200}\$_(GET|POST|REQUEST|COOKIE)/

    condition:
        any of them and not Webshells_Detection_Rule_Source
}

rule PHP_Webshell_Encoded_Eval
{
    meta:
        description = "PHP code that decodes a hidden payload and evaluates it (typical of web shells and injected malware)"
        category = "malware"
        severity = "high"

    strings:
        // eval(base64_decode('...')), eval(gzinflate(base64_decode(...))), eval(str_rot13(...))
        $eval_decode = /eval\s{0,8}\(\s{0,8}@?\s{0,4}(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|convert_uudecode|hex2bin|strrev)\s{0,8}\(/ nocase
        // eval("?>".base64_decode(...)): closes PHP and runs decoded markup and code
        $eval_close = /eval\s{0,8}\(\s{0,8}['"]\?>['"]\s{0,4}\.\s{0,4}(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13)\s{0,8}\(/ nocase
        // assert(base64_decode(...)) works like eval on old PHP
        $assert_decode = /assert\s{0,8}\(\s{0,8}@?\s{0,4}(base64_decode|gzinflate|gzuncompress|str_rot13)\s{0,8}\(/ nocase

    condition:
        any of them and not Webshells_Detection_Rule_Source
}

rule PHP_Webshell_Known_Kit
{
    meta:
        description = "PHP web shell kit (WSO, c99, r57, b374k)"
        category = "malware"
        severity = "critical"

    strings:
        $php = "<?php" nocase
        $php_echo = "<?="
        // WSO's default action
        $wso = /\$default_action\s{0,4}=\s{0,4}['"]FilesMan['"]/
        $c99 = "c99shell" nocase
        $r57 = "r57shell" nocase
        $b374k = /b374k\s{0,4}(shell|[0-9]\.[0-9])/ nocase

    condition:
        ($php or $php_echo) and ($wso or $c99 or $r57 or $b374k) and
        not Webshells_Detection_Rule_Source
}

rule ASP_Webshell_Request_Eval
{
    meta:
        description = "ASP/ASPX page that evaluates or executes code taken from the web request (web shell, e.g. China Chopper)"
        category = "malware"
        severity = "critical"

    strings:
        $tag = "<%"
        $runat = "runat=" nocase
        // <%eval(Request.Item["x"],"unsafe");%>, <%eval request("x")%>
        $eval = /\beval\s{0,8}\(?\s{0,8}Request\s{0,4}(\.\s{0,4}(Item|Form|QueryString|Params)\s{0,4})?[\[\(]/ nocase
        // <%Execute(Request("x"))%>, ExecuteGlobal Request.Form("x")
        $execute = /\bExecute(Global)?\s{0,8}\(?\s{0,8}Request\s{0,4}(\.\s{0,4}(Item|Form|QueryString|Params)\s{0,4})?[\[\(]/ nocase
        // JScript.NET eval(..., "unsafe")
        $unsafe = /\beval\s{0,8}\([^)\n]{1,120},\s{0,4}["']unsafe["']\s{0,4}\)/ nocase

    condition:
        ($tag or $runat) and ($eval or $execute or $unsafe) and not Webshells_Detection_Rule_Source
}

rule ASPX_Webshell_Cmd_Process
{
    meta:
        description = "ASP.NET page that starts cmd.exe or PowerShell with input from the web request (web shell)"
        category = "malware"
        severity = "critical"

    strings:
        $tag = "<%"
        $runat = "runat=" nocase
        $psi = "ProcessStartInfo"
        $start = "Process.Start(" nocase
        $cmd = "cmd.exe" nocase
        $cmd_c = /["']cmd["']/ nocase
        $ps = "powershell" nocase
        $req = /Request\s{0,4}\.\s{0,4}(Form|QueryString|Item|Params)\s{0,4}[\[\(]/ nocase
        $req2 = /Request\s{0,4}\[\s{0,4}["']/ nocase

    condition:
        filesize < 2MB and ($tag or $runat) and ($psi or $start) and ($cmd or $cmd_c or $ps) and
        ($req or $req2) and not Webshells_Detection_Rule_Source
}

rule JSP_Webshell_Runtime_Exec
{
    meta:
        description = "JSP page that runs a command taken from the web request (web shell)"
        category = "malware"
        severity = "critical"

    strings:
        // Runtime.getRuntime().exec(request.getParameter("cmd"))
        $direct = /Runtime\s{0,4}\.\s{0,4}getRuntime\s{0,4}\(\s{0,4}\)\s{0,4}\.\s{0,4}exec\s{0,4}\(\s{0,8}request\s{0,4}\.\s{0,4}getParameter\s{0,4}\(/
        $tag = "<%"
        $exec = /Runtime\s{0,4}\.\s{0,4}getRuntime\s{0,4}\(\s{0,4}\)\s{0,4}\.\s{0,4}exec\s{0,4}\(/
        $pb = /new\s{1,4}ProcessBuilder\s{0,4}\(/
        $param = /request\s{0,4}\.\s{0,4}getParameter\s{0,4}\(/

    condition:
        ($direct or (filesize < 1MB and $tag and ($exec or $pb) and $param)) and
        not Webshells_Detection_Rule_Source
}
