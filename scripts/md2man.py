#!/usr/bin/env python3
"""Write a man page (roff, man macros) from a page of docs/commands/.

    md2man.py PAGE.md OUT.1 [SUMMARY-SOURCE.md]

The pages use a small part of Markdown, and so does this converter: "# title",
"## SECTION", "### Subsection", paragraphs, "- " lists (continued by indented
lines; "- `--opt X` — text" becomes a tagged paragraph), ``` blocks, tables,
`code`, *emphasis*, **bold** and [links](target). The NAME line comes from the
page's own NAME section or from the command table of cleanroom.md (the third
argument). Options keep ASCII hyphens ("\\-") so that they can be copied.
"""
import os
import re
import sys


def esc(text):
    """Escape plain text for roff (not the start of a line)."""
    return text.replace("\\", "\\e").replace("-", "\\-")


def inline(text):
    out, i = [], 0
    for m in re.finditer(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)]+)\)", text):
        out.append(esc(text[i:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + esc(m.group(1)) + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + esc(m.group(2)) + "\\fR")
        elif m.group(3) is not None:
            out.append("\\fI" + esc(m.group(3)) + "\\fR")
        else:
            out.append(inline(m.group(4)))
        i = m.end()
    out.append(esc(text[i:]))
    return "".join(out)


def line(text):
    """A text line: a leading '.' or quote would be read as a request."""
    s = inline(text)
    return "\\&" + s if s[:1] in (".", "'") else s


def summaries(index_md):
    got = {}
    try:
        with open(index_md, encoding="utf-8") as f:
            for row in f:
                m = re.match(r"\|\s*`([a-z-]+)`\s*\|\s*\[[^\]]*\]\([^)]*\)\s*—\s*(.*?)\s*\|\s*$", row)
                if m:
                    got[m.group(1)] = m.group(2)
    except OSError:
        pass
    return got


def convert(md, name, summary):
    lines = md.split("\n")
    out = ['.\\" Generated from docs/commands/ by scripts/md2man.py: do not edit.',
           '.TH %s 1 "" "cleanroom" "cleanroom manual"' % name.upper().replace("-", "\\-")]
    has_name = any(l.strip() == "## NAME" for l in lines)
    if not has_name:
        out += [".SH NAME", "%s \\- %s" % (esc(name), inline(summary) if summary else esc(name))]
    i, n = 0, len(lines)
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.extend(line(p) for p in para)
            para.clear()

    while i < n:
        l = lines[i]
        s = l.strip()
        if l.startswith("# "):
            i += 1
            continue
        if l.startswith("## "):
            flush()
            out.append(".SH " + esc(l[3:].strip().upper()).replace('"', ""))
            i += 1
            continue
        if l.startswith("### "):
            flush()
            out.append(".SS " + inline(l[4:].strip()))
            i += 1
            continue
        if s.startswith("```"):
            flush()
            out += [".PP", ".RS 4", ".nf"]
            i += 1
            while i < n and not lines[i].strip().startswith("```"):
                t = lines[i].replace("\\", "\\e").replace("-", "\\-")
                out.append("\\&" + t)
                i += 1
            out += [".fi", ".RE"]
            i += 1
            continue
        if s.startswith("|"):
            flush()
            rows = []
            while i < n and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                    rows.append(cells)
                i += 1
            for r in rows:
                out += [".IP \\(bu 2", line(" \u2014 ".join(c for c in r if c))]
            continue
        if re.match(r"^\s*[-*] ", l):
            flush()
            indent = len(l) - len(l.lstrip())
            item = [re.sub(r"^\s*[-*] ", "", l)]
            i += 1
            while i < n and lines[i].strip() and not re.match(r"^\s*[-*] ", lines[i]) \
                    and len(lines[i]) - len(lines[i].lstrip()) > indent:
                item.append(lines[i].strip())
                i += 1
            text = " ".join(item)
            m = re.match(r"^((?:`[^`]+`(?:,\s*)?(?: \([^)]*\))?\s*)+)\s*—\s*(.*)$", text)
            if m:
                out += [".TP", line(m.group(1).strip().rstrip(",")), line(m.group(2))]
            else:
                out += [".IP \\(bu 2", line(text)]
            continue
        if not s:
            flush()
            i += 1
            continue
        para.append(s)
        i += 1
    flush()
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: md2man.py PAGE.md OUT.1 [cleanroom.md]")
    src, dst = sys.argv[1], sys.argv[2]
    base = os.path.basename(src)[:-3]
    name = "cleanroom" if base == "cleanroom" else "cleanroom-" + base
    summary = summaries(sys.argv[3]).get(base, "") if len(sys.argv) > 3 else ""
    with open(src, encoding="utf-8") as f:
        md = f.read()
    text = convert(md, name, summary)
    # groff reads ASCII unless preconv runs first: name every other character
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    tmp = dst + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
