/*
 * The content and name judges: what one file added or changed says by itself
 * (YARA, hash IOCs, ransomware names, near-random content), and the change
 * rate of a whole day.
 *
 * Everything here works on facts already learnt by scan.c and cached by
 * content id (hashes, entropy and first bytes of the head, YARA matches):
 * judging reads nothing from the vault, so a new release of these rules
 * rejudges thirty days of snapshots from the cache alone.
 *
 * YARA. A match is only used when the facts were scanned with the current
 * YARA rule set (facts->yara_id == rs->yara_id). Category, severity and
 * description come from the rule's metadata; libyara keeps them with the
 * compiled rules, so a table (rule -> category, severity, description) is
 * built once per YARA rule set and kept in this file, keyed by the rule set's
 * id and rules pointer. Its strings are copies: it never points into rules
 * that may have been freed since.
 *
 * Ransomware by name. Judged on every file added or changed (a finding on a
 * changed node is not carried forward, so what is still true is said again).
 * An extension from the shipped list, or a ransom-note name, on a path that a
 * dpkg package of the snapshot installed is the package's file: not judged.
 * A ransom note is a short message: files over 4 MiB are not notes.
 * A ransomware extension on a file whose content is plainly intact (empty,
 * text, or a known format, and not near-random) is reported at medium: a
 * ".lock" or ".old" on an ordinary file is not an encryption, and ransomware
 * encrypts what it renames.
 *
 * Near-random content. Encrypted bytes look uniformly random: the entropy of
 * the head approaches 8 bits per byte (a bit less for short heads: 7.2 for
 * 256 random bytes, 7.8 for 1 KiB, so the threshold follows the head length).
 * Compressed formats are near-random too, so entropy alone says nothing; what
 * matters is the type the *name* announces:
 *
 *   - a text type (.txt .csv .hl7 .xml ...) never exceeds about 6.5 bits per
 *     byte; near-random content that does not start like text is encrypted;
 *   - a structured type with a fixed magic (.pdf %PDF-, .docx PK, .dcm DICM at
 *     128, ...) whose head is near-random and does not start with that magic,
 *     nor with the magic of any other known format (a .log that is really
 *     gzip, a .jpg that is really WebP, a password-protected .xlsx that is an
 *     OLE file), is encrypted.
 *
 * Only extensions of the table below are judged, so the many binary files of
 * a system without a meaningful extension (random seeds, journals, apt
 * caches, keyrings, fonts, .mo, .pyc) are never looked at. Left out on
 * purpose: .zip (the last volume of a split archive starts mid-stream),
 * .db/.sqlite (SQLCipher databases are encrypted by design), .sys (hiberfil,
 * pagefile), .mp3 (frames may start after junk). Only the last extension
 * counts: "java.sql.jmod" is a .jmod, not an SQL script, and a ransomware
 * suffix missing from the shipped list ("x.pdf.a1b2c3") is left to the change
 * rate, which counts near-random files whatever their names.
 * What is odd without being conclusive (7.0 bits per byte or more, short of
 * the threshold, under a name whose format the head does not show; or
 * near-random behind a text-looking start, like a shell installer with an
 * appended archive) is anomaly:entropy at medium.
 *
 * Change rate. hunt.c counts the day's changes, with hn_judge_near_random as
 * the per-file test; the rule is in hn_judge_change_rate. Twenty files renamed
 * with a ransomware extension are enough whatever the size of the system (the
 * documents ransomware goes for may be a small part of a server's files);
 * otherwise near-random files must also be a tenth of the files.
 *
 * hunt.c calls the judges from one thread; the YARA metadata table is still
 * guarded by a mutex, which costs nothing when uncontended.
 */
#include "hunt/hunt.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cap on untrusted text copied into a finding (rule metadata, IOC comments). */
#define JD_TEXT_MAX 300
/* Shortest head judged for near-random content. */
#define JD_MIN_HEAD 256
/* A ransom note is a short message. */
#define JD_NOTE_MAX_SIZE (4u * 1024 * 1024)
/* Entropy above which a text type is odd (natural text stays below ~6.5). */
#define JD_TEXT_ODD 7.0
/* Longest extension considered. */
#define JD_EXT_MAX 16

/* ------------------------------------------------------------- helpers */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. A sequence
 * cut by the end of the buffer counts as valid when `cut_ok`. */
static size_t utf8_seq(const uint8_t *p, size_t n, int cut_ok)
{
    size_t len;
    uint32_t min;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    uint32_t cp = p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if (i >= n)
            return cut_ok ? n : 0;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Copy untrusted text for a finding: valid UTF-8, no control characters, at
 * most `cap` bytes (cut on a character boundary, "..." appended). */
static void clean_text(char *out, size_t outsz, const char *in, size_t cap)
{
    size_t o = 0, n = in ? strlen(in) : 0;
    const uint8_t *p = (const uint8_t *)in;
    if (cap + 4 > outsz)
        cap = outsz - 4;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i, 0);
        if (o + (l ? l : 1) > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            out[o++] = p[i] == '\t' || p[i] == '\n' || p[i] == '\r' ? ' ' : '?';
            i++;
            continue;
        }
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
}

/* The last component of a path (relpath or node name). */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The lowercase last extension of a file name into ext ("" when none, or too
 * long). A leading dot is not an extension (".bashrc"). */
static void name_ext(const char *name, char ext[JD_EXT_MAX + 1])
{
    const char *dot = strrchr(name, '.');
    size_t n;

    ext[0] = '\0';
    if (!dot || dot == name || (n = strlen(dot + 1)) == 0 || n > JD_EXT_MAX)
        return;
    for (size_t i = 0; i <= n; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
}

/* ------------------------------------------------------- formats by magic */

typedef enum jd_kind {
    K_TEXT = 1,
    K_PDF,
    K_PNG,
    K_JPEG,
    K_GIF,
    K_BMP,
    K_TIFF,
    K_WEBP,
    K_ZIP,
    K_OLE,
    K_GZIP,
    K_BZIP2,
    K_XZ,
    K_7Z,
    K_RAR,
    K_ZSTD,
    K_PE,
    K_DICOM,
    K_RTF,
    K_ISOBMFF,
    K_AVI,
    K_WAV,
    K_MKV,
    K_OGG,
    K_FLAC,
    K_PSD,
    K_PST,
    K_KINDS
} jd_kind;

/* What a kind is called in a finding. */
static const char *const kind_names[K_KINDS] = {
    [K_TEXT] = "a text file",
    [K_PDF] = "a PDF document",
    [K_PNG] = "a PNG image",
    [K_JPEG] = "a JPEG image",
    [K_GIF] = "a GIF image",
    [K_BMP] = "a BMP image",
    [K_TIFF] = "a TIFF image",
    [K_WEBP] = "a WebP image",
    [K_ZIP] = "a ZIP archive or Office/OpenDocument file",
    [K_OLE] = "an Office 97-2003 / Outlook file",
    [K_GZIP] = "a gzip archive",
    [K_BZIP2] = "a bzip2 archive",
    [K_XZ] = "an xz archive",
    [K_7Z] = "a 7-Zip archive",
    [K_RAR] = "a RAR archive",
    [K_ZSTD] = "a zstd archive",
    [K_PE] = "a Windows program",
    [K_DICOM] = "a DICOM medical image",
    [K_RTF] = "an RTF document",
    [K_ISOBMFF] = "an MP4/MOV/HEIC media file",
    [K_AVI] = "an AVI video",
    [K_WAV] = "a WAV sound",
    [K_MKV] = "a Matroska/WebM video",
    [K_OGG] = "an Ogg media file",
    [K_FLAC] = "a FLAC sound",
    [K_PSD] = "a Photoshop image",
    [K_PST] = "an Outlook mailbox",
};

/* The extensions judged (space-separated), and the kind each announces. */
static const struct {
    jd_kind kind;
    const char *exts;
} ext_table[] = {
    /* text: natural text stays far from random */
    {K_TEXT, "txt csv tsv log xml html htm json sql conf cfg ini md c h py sh yaml yml hl7 eml "
             "svg"},
    /* structured types with a fixed magic */
    {K_PDF, "pdf"},
    {K_PNG, "png"},
    {K_JPEG, "jpg jpeg jpe jfif"},
    {K_GIF, "gif"},
    {K_BMP, "bmp"},
    {K_TIFF, "tif tiff"},
    {K_WEBP, "webp"},
    {K_ZIP, "docx docm dotx xlsx xlsm xltx pptx pptm potx odt ods odp odg jar epub vsdx"},
    {K_OLE, "doc dot xls xlt ppt pot msg vsd pub msi"},
    {K_GZIP, "gz tgz"},
    {K_BZIP2, "bz2 tbz2"},
    {K_XZ, "xz txz"},
    {K_7Z, "7z"},
    {K_RAR, "rar"},
    {K_ZSTD, "zst"},
    {K_PE, "exe dll"},
    {K_DICOM, "dcm dicom"},
    {K_RTF, "rtf"},
    {K_ISOBMFF, "mp4 m4a m4v mov 3gp heic heif avif"},
    {K_AVI, "avi"},
    {K_WAV, "wav"},
    {K_MKV, "mkv webm"},
    {K_OGG, "ogg oga ogv opus"},
    {K_FLAC, "flac"},
    {K_PSD, "psd"},
    {K_PST, "pst ost"},
};

/* 1 if `word` is one of the space-separated words of `list`. */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, " ");
        if (l == n && !memcmp(p, word, n))
            return 1;
        p += l;
        p += strspn(p, " ");
    }
    return 0;
}

static jd_kind ext_kind(const char *ext)
{
    if (!ext[0])
        return 0;
    for (size_t i = 0; i < sizeof(ext_table) / sizeof(ext_table[0]); i++)
        if (in_list(ext_table[i].exts, ext))
            return ext_table[i].kind;
    return 0;
}

static int at(const hn_facts *f, size_t off, const void *m, size_t len)
{
    return f->magic_len >= off + len && !memcmp(f->magic + off, m, len);
}

/* 1 if the head starts like `kind`. */
static int magic_is(const hn_facts *f, jd_kind kind)
{
    static const char *const qt_atoms[] = {"ftyp", "styp", "moov", "mdat",
                                           "wide", "free", "skip", "pnot"};
    switch (kind) {
    case K_PDF:
        /* readers accept a few bytes before %PDF- */
        for (size_t i = 0; i + 5 <= f->magic_len; i++)
            if (!memcmp(f->magic + i, "%PDF-", 5))
                return 1;
        return 0;
    case K_PNG:
        return at(f, 0, "\x89PNG\r\n\x1a\n", 8);
    case K_JPEG:
        return at(f, 0, "\xff\xd8\xff", 3);
    case K_GIF:
        return at(f, 0, "GIF87a", 6) || at(f, 0, "GIF89a", 6);
    case K_BMP:
        return at(f, 0, "BM", 2);
    case K_TIFF:
        return at(f, 0, "II*\0", 4) || at(f, 0, "MM\0*", 4) || at(f, 0, "II+\0", 4) ||
               at(f, 0, "MM\0+", 4);
    case K_WEBP:
        return at(f, 0, "RIFF", 4) && at(f, 8, "WEBP", 4);
    case K_ZIP:
        return at(f, 0, "PK\x03\x04", 4) || at(f, 0, "PK\x05\x06", 4) || at(f, 0, "PK\x07\x08", 4);
    case K_OLE:
        return at(f, 0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
    case K_GZIP:
        return at(f, 0, "\x1f\x8b", 2);
    case K_BZIP2:
        return at(f, 0, "BZh", 3);
    case K_XZ:
        return at(f, 0, "\xfd\x37zXZ\0", 6);
    case K_7Z:
        return at(f, 0, "7z\xbc\xaf\x27\x1c", 6);
    case K_RAR:
        return at(f, 0, "Rar!\x1a\x07", 6);
    case K_ZSTD:
        return at(f, 0, "\x28\xb5\x2f\xfd", 4);
    case K_PE:
        return at(f, 0, "MZ", 2);
    case K_DICOM:
        /* Part 10 file (preamble + DICM), or a bare data set (group 0002 or 0008) */
        return at(f, 128, "DICM", 4) || at(f, 0, "\x02\0", 2) || at(f, 0, "\x08\0", 2);
    case K_RTF:
        return at(f, 0, "{\\rtf", 5);
    case K_ISOBMFF:
        for (size_t i = 0; i < sizeof(qt_atoms) / sizeof(qt_atoms[0]); i++)
            if (at(f, 4, qt_atoms[i], 4))
                return 1;
        return 0;
    case K_AVI:
        return at(f, 0, "RIFF", 4) && at(f, 8, "AVI ", 4);
    case K_WAV:
        return (at(f, 0, "RIFF", 4) || at(f, 0, "RF64", 4) || at(f, 0, "BW64", 4)) &&
               at(f, 8, "WAVE", 4);
    case K_MKV:
        return at(f, 0, "\x1a\x45\xdf\xa3", 4);
    case K_OGG:
        return at(f, 0, "OggS", 4);
    case K_FLAC:
        return at(f, 0, "fLaC", 4);
    case K_PSD:
        return at(f, 0, "8BPS", 4);
    case K_PST:
        return at(f, 0, "!BDN", 4);
    default:
        return 0;
    }
}

/*
 * 1 if the head is a binary OpenPGP packet a keyring or gpg output starts
 * with: a public or secret key (keyrings: .gpg, trusted.gpg), or the session
 * key of an encrypted message (gpg -e / -c: encrypted by design).
 */
static int openpgp_packet(const hn_facts *f)
{
    static const char pk_algos[] = "\x01\x02\x03\x10\x11\x12\x13\x16\x19\x1b";
    const uint8_t *m = f->magic;
    size_t v; /* offset of the packet body (its version byte) */
    unsigned tag;
    if (f->magic_len < 16 || !(m[0] & 0x80))
        return 0;
    if (m[0] & 0x40) { /* new format */
        tag = m[0] & 0x3f;
        v = m[1] < 192 ? 2 : m[1] < 224 ? 3 : m[1] == 255 ? 6 : 0;
    } else { /* old format: length of 1, 2 or 4 bytes */
        tag = (m[0] >> 2) & 0x0f;
        v = (m[0] & 3) == 0 ? 2 : (m[0] & 3) == 1 ? 3 : (m[0] & 3) == 2 ? 5 : 0;
    }
    if (!v)
        return 0;
    switch (tag) {
    case 5: /* secret key */
    case 6: /* public key: version, creation time, algorithm */
        return (m[v] == 4 || m[v] == 5) && m[v + 5] && memchr(pk_algos, m[v + 5], 10);
    case 1: /* public-key encrypted session key: version 3, key id, algorithm */
        return m[v] == 3 && m[v + 9] && memchr(pk_algos, m[v + 9], 10);
    case 3: /* symmetric-key encrypted session key: version 4, cipher, S2K type */
        return m[v] == 4 && m[v + 1] >= 1 && m[v + 1] <= 13 &&
               (m[v + 2] == 0 || m[v + 2] == 1 || m[v + 2] == 3);
    default:
        return 0;
    }
}

/*
 * 1 if the head starts like a known format (any kind above, or another common
 * compressed, encrypted-by-design or media format): a file of one known format
 * under the name of another is misnamed, not encrypted by ransomware.
 */
static int known_format(const hn_facts *f)
{
    static const struct {
        uint8_t off, len;
        const char *m;
    } extra[] = {
        {0, 4, "\x7f\x45LF"},       /* programs and libraries */
        {0, 4, "\x04\x22\x4d\x18"}, /* lz4 */
        {0, 4, "MSCF"},             /* cabinet */
        {0, 4, "LZIP"},             /* lzip */
        {0, 3, "\x5d\0\0"},         /* lzma alone */
        {0, 2, "\x78\x01"},         /* zlib */
        {0, 2, "\x78\x5e"},
        {0, 2, "\x78\x9c"},
        {0, 2, "\x78\xda"},
        {0, 8, "!<arch>\n"},        /* ar (.deb) */
        {0, 4, "\xca\xfe\xba\xbe"}, /* Java class, Mach-O fat */
        {0, 4, "\xcf\xfa\xed\xfe"}, /* Mach-O */
        {0, 5, "PGDMP"},            /* PostgreSQL custom dump */
        {0, 4, "wOFF"},             /* web fonts */
        {0, 4, "wOF2"},
        {0, 4, "OTTO"},             /* OpenType */
        {0, 4, "\0\1\0\0"},         /* TrueType */
        {0, 2, "\x80\x01"},         /* Type 1 font (PFB) */
        {8, 4, "KBXf"},             /* GnuPG keybox */
        {0, 3, "ID3"},              /* MP3 */
        {0, 4, "RIFF"},             /* any RIFF */
        {0, 16, "SQLite format 3"}, /* incl. its NUL */
        {0, 4, "\x03\xd9\xa2\x9a"}, /* KeePass */
        {0, 5, "MSWIM"},            /* Windows imaging (.wim, .esd) */
        {0, 4, "CMMM"},             /* Windows thumbnail cache */
        {0, 6, "\x89HDF\r\n"},      /* HDF5 */
        {0, 4, "\x0a\x0d\x0d\x0a"}, /* pcapng */
        {0, 4, "\xd4\xc3\xb2\xa1"}, /* pcap */
        {0, 4, "\xa1\xb2\xc3\xd4"},
        {0, 3, "FWS"}, /* Flash */
        {0, 3, "CWS"},
        {0, 3, "ZWS"},
        {0, 2, "\x30\x82"}, /* DER (certificates, CMS / .p7m) */
        {0, 2, "\x30\x80"},
        {0, 8, "\0\0\0\x0cjP  "}, /* JPEG 2000 */
        {0, 4, "\xff\x4f\xff\x51"},
        {0, 6, "070701"}, /* cpio */
        {0, 6, "070707"},
        {0, 6, "\xef\xbb\xbf{\\rt"}, /* RTF behind a BOM */
        {0, 4, "PACK"},              /* git pack */
        {0, 4, "\xfftOc"},           /* git pack index */
        {0, 4, "FORM"},              /* IFF: AIFF sound */
        {0, 4, ".snd"},              /* Sun audio */
        {0, 4, "\xfe\xed\xfe\xed"},  /* Java keystore */
        {0, 4, "JM\x01\x00"},        /* Java module (.jmod) */
        {0, 4, "BC\xc0\xde"},        /* LLVM bitcode */
        {0, 4, "\xde\xc0\x17\x0b"},
        {0, 4, "\0\0\1\0"}, /* Windows icon */
    };
    for (int k = K_PDF; k < K_KINDS; k++)
        if (k != K_DICOM && magic_is(f, (jd_kind)k))
            return 1;
    if (at(f, 128, "DICM", 4))
        return 1;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        if (at(f, extra[i].off, extra[i].m, extra[i].len))
            return 1;
    return openpgp_packet(f);
}

/* 1 if the head starts like text: printable ASCII, whitespace or valid UTF-8,
 * or a UTF-16 BOM. */
static int looks_text(const hn_facts *f)
{
    size_t n = f->magic_len < 64 ? f->magic_len : 64;
    if (n >= 2 && (at(f, 0, "\xff\xfe", 2) || at(f, 0, "\xfe\xff", 2)))
        return 1;
    if (n < 8)
        return 0;
    /* openssl enc -a: base64 text of encrypted bytes, not text */
    if (at(f, 0, "U2FsdGVkX1", 10))
        return 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = f->magic[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b)
                return 0;
            if (c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t l = utf8_seq(f->magic + i, n - i, 1);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/*
 * Entropy at or above which `n` bytes look random: random data measures about
 * 7.18 bits per byte over 256 bytes, 7.59 over 512, 7.81 over 1 KiB and 8 in
 * the limit (the estimate is biased low for short samples). The threshold is
 * 0.3 below that, and never above 7.5.
 */
static double random_threshold(uint32_t n)
{
    static const struct {
        uint32_t n;
        double h;
    } pts[] = {{256, 7.175}, {384, 7.444}, {512, 7.591}, {768, 7.738}, {1024, 7.810}};
    double h = 8.0;
    if (n < pts[0].n)
        return 9.0; /* never */
    for (size_t i = 0; i + 1 < sizeof(pts) / sizeof(pts[0]); i++)
        if (n < pts[i + 1].n) {
            double t = (double)(n - pts[i].n) / (double)(pts[i + 1].n - pts[i].n);
            h = pts[i].h + t * (pts[i + 1].h - pts[i].h);
            break;
        }
    if (n >= pts[sizeof(pts) / sizeof(pts[0]) - 1].n)
        h = 7.81;
    h -= 0.3;
    return h < 7.5 ? h : 7.5;
}

static int have_head(const hn_facts *f)
{
    return f && (f->have & HN_HAVE_HEAD) && f->head_len > 0;
}

int hn_judge_near_random(const hn_facts *f)
{
    if (!have_head(f) || f->head_len < JD_MIN_HEAD)
        return 0;
    if (f->entropy < random_threshold(f->head_len))
        return 0;
    return !known_format(f) && !looks_text(f);
}

/* Content that is plainly not encrypted: empty, or intact text or known format. */
static int plainly_intact(const cr_node *node, const hn_facts *f)
{
    if (node->size == 0)
        return 1;
    if (!have_head(f) || f->head_len < 16)
        return 0;
    if (f->entropy >= JD_TEXT_ODD)
        return 0;
    return known_format(f) || looks_text(f);
}

/* ------------------------------------------------------ YARA metadata */

typedef struct jd_meta {
    char *ns, *id;
    cr_category cat;
    cr_severity sev;
    char *desc; /* cleaned, or NULL */
} jd_meta;

static struct {
    pthread_mutex_t mu;
    char yara_id[CR_ID_HEX_LEN + 1];
    const YR_RULES *rules; /* compared, never followed */
    jd_meta *m;
    size_t n;
} g_meta = {PTHREAD_MUTEX_INITIALIZER, "", NULL, NULL, 0};

static void meta_table_clear(void)
{
    for (size_t i = 0; i < g_meta.n; i++) {
        free(g_meta.m[i].ns);
        free(g_meta.m[i].id);
        free(g_meta.m[i].desc);
    }
    free(g_meta.m);
    g_meta.m = NULL;
    g_meta.n = 0;
    g_meta.yara_id[0] = '\0';
    g_meta.rules = NULL;
}

static int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static int parse_sev(cr_severity *out, const char *s)
{
    static const struct {
        const char *name;
        cr_severity sev;
    } names[] = {
        {"info", CR_SEV_INFO},         {"informational", CR_SEV_INFO}, {"low", CR_SEV_LOW},
        {"medium", CR_SEV_MEDIUM},     {"moderate", CR_SEV_MEDIUM},    {"high", CR_SEV_HIGH},
        {"critical", CR_SEV_CRITICAL},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ieq(s, names[i].name)) {
            *out = names[i].sev;
            return 0;
        }
    return CR_EINPUT;
}

static int parse_cat(cr_category *out, const char *s)
{
    static const struct {
        const char *name;
        cr_category cat;
    } names[] = {{"malware", CR_CAT_MALWARE},
                 {"ransomware", CR_CAT_RANSOMWARE},
                 {"persistence", CR_CAT_PERSISTENCE},
                 {"anomaly", CR_CAT_ANOMALY}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ieq(s, names[i].name)) {
            *out = names[i].cat;
            return 0;
        }
    return CR_EINPUT;
}

/* (Re)build the metadata table of rs's YARA rules. g_meta.mu held. */
static int meta_table_build(const hn_ruleset *rs)
{
    YR_RULE *rule;
    size_t n = 0, i = 0;
    int err = 0;

    meta_table_clear();
    yr_rules_foreach(rs->yara, rule) n++;
    if (n && !(g_meta.m = cr_calloc(n, sizeof(jd_meta))))
        return CR_ERROR;
    yr_rules_foreach(rs->yara, rule)
    {
        jd_meta *m = &g_meta.m[i++];
        YR_META *meta;
        char buf[JD_TEXT_MAX + 8];
        g_meta.n = i;
        m->cat = CR_CAT_MALWARE;
        m->sev = CR_SEV_HIGH;
        const char *ns = rule->ns && rule->ns->name ? rule->ns->name : "default";
        if (!(m->ns = cr_strdup(ns)) ||
            !(m->id = cr_strdup(rule->identifier ? rule->identifier : ""))) {
            err = CR_ERROR;
            goto done;
        }
        yr_rule_metas_foreach(rule, meta)
        {
            if (!meta->identifier || meta->type != META_TYPE_STRING || !meta->string)
                continue;
            if (ieq(meta->identifier, "severity"))
                parse_sev(&m->sev, meta->string);
            else if (ieq(meta->identifier, "category"))
                parse_cat(&m->cat, meta->string);
            else if (ieq(meta->identifier, "description") && !m->desc && meta->string[0]) {
                clean_text(buf, sizeof(buf), meta->string, JD_TEXT_MAX);
                if (!(m->desc = cr_strdup(buf))) {
                    err = CR_ERROR;
                    goto done;
                }
            }
        }
    }
    memcpy(g_meta.yara_id, rs->yara_id, sizeof(g_meta.yara_id));
    g_meta.rules = rs->yara;
done:
    if (err < 0)
        meta_table_clear();
    return err;
}

/* The metadata of a matched rule ("rule" or "ns:rule"), or NULL. g_meta.mu held. */
static const jd_meta *meta_find(const char *name)
{
    const char *colon = strrchr(name, ':');
    const jd_meta *any = NULL;
    for (size_t i = 0; i < g_meta.n; i++) {
        const jd_meta *m = &g_meta.m[i];
        if (colon) {
            size_t nl = (size_t)(colon - name);
            if (!strcmp(m->id, colon + 1) && strlen(m->ns) == nl && !memcmp(m->ns, name, nl))
                return m;
        } else if (!strcmp(m->id, name)) {
            if (!strcmp(m->ns, "default"))
                return m;
            if (!any)
                any = m;
        }
    }
    return any;
}

static int judge_yara(hn_ctx *ctx, const char *relpath, const cr_id *cid, const hn_facts *f)
{
    const hn_ruleset *rs = ctx->rs;
    int err = 0;

    if (!(f->have & HN_HAVE_YARA) || !f->nyara || !rs->yara || strcmp(f->yara_id, rs->yara_id))
        return 0;
    pthread_mutex_lock(&g_meta.mu);
    if ((g_meta.rules != rs->yara || strcmp(g_meta.yara_id, rs->yara_id) != 0) &&
        (err = meta_table_build(rs)) < 0)
        goto done;
    for (size_t i = 0; i < f->nyara; i++) {
        char name[JD_TEXT_MAX + 8], ind[JD_TEXT_MAX + 16];
        if (!f->yara[i])
            continue;
        const jd_meta *m = meta_find(f->yara[i]);
        clean_text(name, sizeof(name), f->yara[i], 200);
        snprintf(ind, sizeof(ind), "yara:%s", name);
        err = hn_emit(ctx, relpath, m ? m->cat : CR_CAT_MALWARE, m ? m->sev : CR_SEV_HIGH, ind, cid,
                      NULL, "matches the YARA rule %s%s%s", name, m && m->desc ? ": " : "",
                      m && m->desc ? m->desc : "");
        if (err < 0)
            goto done;
    }
done:
    pthread_mutex_unlock(&g_meta.mu);
    return err;
}

/* ---------------------------------------------------------------- IOCs */

static int judge_iocs(hn_ctx *ctx, const char *relpath, const cr_id *cid, const hn_facts *f)
{
    static const struct {
        hn_hash_type type;
        unsigned have;
        const char *ind, *name;
        size_t len, off;
    } kinds[] = {
        {HN_MD5, HN_HAVE_MD5, "ioc:md5", "MD5", 16, offsetof(hn_facts, md5)},
        {HN_SHA1, HN_HAVE_SHA1, "ioc:sha1", "SHA-1", 20, offsetof(hn_facts, sha1)},
        {HN_SHA256, HN_HAVE_SHA256, "ioc:sha256", "SHA-256", 32, offsetof(hn_facts, sha256)},
    };
    unsigned types = ctx->rs->iocs ? hn_ioc_types(ctx->rs->iocs) : 0;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *list = NULL, *comment = NULL;
        const uint8_t *digest = (const uint8_t *)f + kinds[i].off;
        char hex[65], l[JD_TEXT_MAX + 8], c[JD_TEXT_MAX + 8];
        int err;
        if (!(types & kinds[i].type) || !(f->have & kinds[i].have))
            continue;
        if (hn_ioc_lookup(ctx->rs->iocs, kinds[i].type, digest, &list, &comment) != 1)
            continue;
        cr_hex_encode(hex, digest, kinds[i].len);
        clean_text(l, sizeof(l), list ? list : "?", 200);
        clean_text(c, sizeof(c), comment, JD_TEXT_MAX);
        err = hn_emit(ctx, relpath, CR_CAT_MALWARE, CR_SEV_CRITICAL, kinds[i].ind, cid, NULL,
                      "its %s %s is listed in the IOC list %s%s%s%s", kinds[i].name, hex, l,
                      c[0] ? " (" : "", c, c[0] ? ")" : "");
        if (err < 0)
            return err;
    }
    return 0;
}

/* ------------------------------------------------------ ransomware names */

/*
 * Whether relpath is a file of a dpkg package of the snapshot: 1, 0, or an
 * error. The database is loaded on first use and kept in ctx (hunt.c frees it).
 */
static int owned_by_package(hn_ctx *ctx, const char *relpath, const hn_facts *f)
{
    const char *pkg = NULL;
    int err;
    if (!ctx->dpkg_loaded) {
        if ((err = hn_dpkg_load(&ctx->dpkg, ctx)) < 0)
            return err;
        ctx->dpkg_loaded = 1;
    }
    if (!ctx->dpkg)
        return 0;
    return hn_dpkg_owner(ctx->dpkg, relpath, f && (f->have & HN_HAVE_MD5) ? f->md5 : NULL, &pkg) !=
           HN_UNOWNED;
}

static int judge_names(hn_ctx *ctx, const char *relpath, const cr_node *node, const cr_id *cid,
                       const hn_facts *f)
{
    const char *name = node->name && node->name[0] ? node->name : base_name(relpath);
    const char *ext = hn_ruleset_ransom_ext(ctx->rs, name);
    int note = hn_ruleset_ransom_note(ctx->rs, name) == 1 && node->size <= JD_NOTE_MAX_SIZE;
    int err = 0;

    if (!ext && !note)
        return 0;
    if ((err = owned_by_package(ctx, relpath, f)) != 0)
        return err < 0 ? err : 0; /* a file the package installed */
    if (ext) {
        char e[JD_EXT_MAX * 4 + 8];
        clean_text(e, sizeof(e), ext, JD_EXT_MAX * 2);
        if (!plainly_intact(node, f))
            err = hn_emit(ctx, relpath, CR_CAT_RANSOMWARE, CR_SEV_HIGH, "ransomware:extension", cid,
                          e,
                          "the file name ends with .%s, an extension used by ransomware for "
                          "the files it encrypted",
                          e);
        else
            err = hn_emit(ctx, relpath, CR_CAT_RANSOMWARE, CR_SEV_MEDIUM, "ransomware:extension",
                          cid, e,
                          "the file name ends with .%s, an extension used by ransomware, but "
                          "its content does not look encrypted",
                          e);
        if (err < 0)
            return err;
    }
    if (note)
        err = hn_emit(ctx, relpath, CR_CAT_RANSOMWARE, CR_SEV_HIGH, "ransomware:note", cid, NULL,
                      "the file name is one ransomware uses for its ransom note");
    return err;
}

/* ------------------------------------------------------ near-random content */

static int judge_entropy(hn_ctx *ctx, const char *relpath, const cr_node *node, const cr_id *cid,
                         const hn_facts *f)
{
    char ext[JD_EXT_MAX + 1];
    const char *name = node->name && node->name[0] ? node->name : base_name(relpath);
    jd_kind kind;

    if (!have_head(f) || f->head_len < JD_MIN_HEAD)
        return 0;
    name_ext(name, ext);
    if (!(kind = ext_kind(ext)))
        return 0;
    /* Starts as announced (compressed formats may look random), or as another
     * known format under this name (misnamed, not encrypted): nothing to say. */
    if ((kind != K_TEXT && magic_is(f, kind)) || known_format(f))
        return 0;

    double thr = random_threshold(f->head_len);
    int text = looks_text(f);
    if (f->entropy >= thr && !text)
        return hn_emit(ctx, relpath, CR_CAT_RANSOMWARE, CR_SEV_HIGH, "ransomware:encrypted", cid,
                       NULL,
                       "its name announces %s, but its first %u bytes are near-random "
                       "(entropy %.2f bits per byte) and do not start like one: the file was "
                       "probably encrypted",
                       kind_names[kind], (unsigned)f->head_len, f->entropy);
    if (f->head_len >= 1024 && f->entropy >= JD_TEXT_ODD)
        return hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_MEDIUM, "anomaly:entropy", cid, NULL,
                       "its name announces %s, but its first %u bytes are unusually random "
                       "(entropy %.2f bits per byte)%s",
                       kind_names[kind], (unsigned)f->head_len, f->entropy,
                       text ? " behind a start that looks like text" : "");
    return 0;
}

/* ------------------------------------------------------------ the judge */

int hn_judge_file(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                  const cr_node *new_node)
{
    const hn_facts *f;
    cr_id cid;
    int err;

    (void)old_node; /* what the file is now is judged, whatever it was */
    if (!ctx || !ctx->rs || !relpath || !new_node || new_node->type != CR_NODE_FILE)
        return 0;
    hn_content_id(&cid, new_node);
    {
        cr_id key; /* the content id, or with YARA externals the content at this path */
        hn_facts_key(&key, ctx->rs, relpath, new_node);
        f = ctx->cache ? hn_cache_get(ctx->cache, &key) : NULL;
    }

    if (f && (err = judge_yara(ctx, relpath, &cid, f)) < 0)
        return err;
    if (f && (err = judge_iocs(ctx, relpath, &cid, f)) < 0)
        return err;
    if ((err = judge_names(ctx, relpath, new_node, &cid, f)) < 0)
        return err;
    if (f && (err = judge_entropy(ctx, relpath, new_node, &cid, f)) < 0)
        return err;
    return 0;
}

/* ---------------------------------------------------------- change rate */

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

int hn_change_rate_verdict(const hn_change_stats *st)
{
    return hn_change_rate_verdict_at(st, HN_RATE_RENAMED, HN_RATE_CHANGED, HN_RATE_PERCENT);
}

int hn_change_rate_verdict_at(const hn_change_stats *st, unsigned int renamed,
                              unsigned int changed, unsigned int percent)
{
    uint64_t hit = st->modified_high_entropy + st->ransom_named, churn = st->modified + st->removed;
    uint64_t before = st->files_before;
    /* ransomware: at least 20 files got a ransomware extension (names from the shipped
     * list, which ordinary life never produces by the score: the data ransomware goes for
     * may be a small part of a system's files), or at least 20 files and 10% of the files
     * became near-random or got such an extension (the defaults; a job may move them) */
    if (before >= 50 && ((renamed && st->ransom_named >= renamed) ||
                         (changed && hit >= changed && hit * 100 >= before * percent)))
        return HN_RATE_RANSOMWARE;
    /* anomaly: at least 100 files and half of the files modified or removed */
    if (churn >= 100 && churn * 2 >= before)
        return HN_RATE_ANOMALY;
    return HN_RATE_NONE;
}

double hn_entropy(const uint64_t hist[256], uint64_t n)
{
    double h = 0;
    for (int i = 0; i < 256 && n; i++)
        if (hist[i]) {
            double p = (double)hist[i] / (double)n;
            h -= p * log2(p);
        }
    return h < 0 ? 0 : h;
}

void hn_head_facts(hn_facts *f, const uint8_t *head, size_t len)
{
    uint64_t hist[256] = {0};
    if (len > HN_HEAD_BYTES)
        len = HN_HEAD_BYTES;
    for (size_t i = 0; i < len; i++)
        hist[head[i]]++;
    f->entropy = hn_entropy(hist, len);
    f->head_len = (uint32_t)len;
    f->magic_len = (uint8_t)(len < HN_MAGIC_BYTES ? len : HN_MAGIC_BYTES);
    memset(f->magic, 0, sizeof(f->magic));
    memcpy(f->magic, head, f->magic_len);
    f->have |= HN_HAVE_HEAD;
}

int hn_judge_change_rate(hn_ctx *ctx, const hn_change_stats *st)
{
    uint64_t churn, before;
    int verdict;

    if (!ctx || !st)
        return 0;
    before = st->files_before;
    churn = st->modified + st->removed;
    verdict = hn_change_rate_verdict(st);
    if (verdict == HN_RATE_RANSOMWARE)
        return hn_emit(
            ctx, "/", CR_CAT_RANSOMWARE, CR_SEV_CRITICAL, "ransomware:change-rate", NULL, NULL,
            "since the previous restore point, %llu files got a ransomware extension "
            "and %llu became near-random (%.1f%% and %.1f%% of its %llu files); "
            "%llu files added, %llu modified, %llu removed",
            (unsigned long long)st->ransom_named, (unsigned long long)st->modified_high_entropy,
            pct(st->ransom_named, before), pct(st->modified_high_entropy, before),
            (unsigned long long)before, (unsigned long long)st->added,
            (unsigned long long)st->modified, (unsigned long long)st->removed);
    if (verdict == HN_RATE_ANOMALY)
        return hn_emit(ctx, "/", CR_CAT_ANOMALY, CR_SEV_MEDIUM, "anomaly:change-rate", NULL, NULL,
                       "since the previous restore point, %llu of its %llu files (%.1f%%) were "
                       "modified or removed (%llu modified, %llu removed; %llu added)",
                       (unsigned long long)churn, (unsigned long long)before, pct(churn, before),
                       (unsigned long long)st->modified, (unsigned long long)st->removed,
                       (unsigned long long)st->added);
    return 0;
}
