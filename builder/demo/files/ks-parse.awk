# Kickstart lexer of the Golden Demo Linux installer (busybox awk).
#
# Reads a kickstart the way pykickstart splits it and prints shell code that
# the installer sources: one call per command, section and package, with
# every word single-quoted, so no kickstart text is ever evaluated by the
# shell. Meaning (which directives exist, their options) lives in ks.sh.
#
#   awk -v ks=FILE -v mode=pre|all -v dir=DIR -f ks-parse.awk
#
# mode=pre prints only the %pre sections (Anaconda runs them before it reads
# the rest, so they can write files for %include). Section bodies go to
# DIR/section-N. Output:
#   ks_cmd WHERE NAME ARG...          a command line
#   ks_section WHERE NAME FILE ARG... a %section header (body in FILE)
#   ks_pkg WHERE ITEM                 a %packages line
#   ks_error WHERE MESSAGE            a line that cannot be read
# WHERE is a line number, or "N of FILE" inside an %include.

function shq(s,    out, p) {
    out = ""
    while ((p = index(s, "'")) > 0) {
        out = out substr(s, 1, p - 1) "'\"'\"'"
        s = substr(s, p + 1)
    }
    return "'" out s "'"
}

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

# Split like shlex (POSIX mode, comments on): quotes group, a backslash
# escapes, an unquoted # starts a comment. Words go to toks[1..n]; returns n,
# or -1 for an unterminated quote.
function tokenize(s,    i, n, c, tok, inword, q) {
    ntok = 0
    tok = ""
    inword = 0
    q = ""
    n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (q == "'") {
            if (c == "'") q = ""
            else tok = tok c
            continue
        }
        if (q == "\"") {
            if (c == "\"") q = ""
            else if (c == "\\" && i < n && index("\\\"$`", substr(s, i + 1, 1)) > 0) {
                i++
                tok = tok substr(s, i, 1)
            } else tok = tok c
            continue
        }
        if (c == " " || c == "\t") {
            if (inword) {
                toks[++ntok] = tok
                tok = ""
                inword = 0
            }
            continue
        }
        if (c == "#" && !inword) break
        inword = 1
        if (c == "'" || c == "\"") {
            q = c
            continue
        }
        if (c == "\\" && i < n) {
            i++
            tok = tok substr(s, i, 1)
            continue
        }
        tok = tok c
    }
    if (q != "") return -1
    if (inword) toks[++ntok] = tok
    return ntok
}

function emit_words(prefix, where, first,    i, line) {
    line = prefix " " shq(where)
    for (i = first; i <= ntok; i++) line = line " " shq(toks[i])
    print line
}

function close_section() {
    if (section != "" && secfile != "") close(secfile)
    section = ""
    secfile = ""
}

function section_header(text, where,    n, name, line, i) {
    close_section()
    n = tokenize(text)
    if (n < 0) {
        if (mode == "all") print "ks_error " shq(where) " " shq("unterminated quote")
        return
    }
    name = substr(toks[1], 2)
    section = name
    nsec++
    secfile = dir "/section-" nsec
    printf "" > secfile
    if (mode == "all" || name == "pre") {
        line = "ks_section " shq(where) " " shq(name) " " shq(secfile)
        for (i = 2; i <= ntok; i++) line = line " " shq(toks[i])
        print line
    }
}

# Any %word starts a section (old kickstarts end one by starting the next);
# unknown ones are refused by ks.sh instead of being read as commands.
function is_section_header(t) {
    return t ~ /^%[a-z][a-z-]*([ \t]|$)/ && t !~ /^%(include|ksappend|end)([ \t]|$)/
}

function where_of(lineno, file) {
    return (file == ks) ? lineno "" : lineno " of " file
}

function process_file(file, depth,    line, lineno, t, cont, contstart, n, rc, i, inc, probe) {
    if (depth > 8) {
        print "ks_error " shq("1 of " file) " " shq("%include nested too deep")
        return
    }
    lineno = 0
    cont = ""
    while ((rc = (getline line < file)) > 0) {
        lineno++
        sub(/\r$/, "", line)
        t = trim(line)
        if (section != "" && section != "packages") {
            # a script body: kept verbatim up to %end or the next section
            if (t ~ /^%end([ \t]|$)/) { close_section(); continue }
            if (is_section_header(t)) { section_header(t, where_of(lineno, file)); continue }
            if (mode == "all" || section == "pre") print line > secfile
            continue
        }
        if (section == "packages") {
            if (t ~ /^%end([ \t]|$)/) { close_section(); continue }
            if (is_section_header(t)) { section_header(t, where_of(lineno, file)); continue }
            if (t == "" || t ~ /^#/) continue
            n = tokenize(t)
            if (mode == "all") {
                if (n < 0) print "ks_error " shq(where_of(lineno, file)) " " shq("unterminated quote")
                else for (i = 1; i <= n; i++) print "ks_pkg " shq(where_of(lineno, file)) " " shq(toks[i])
            }
            continue
        }
        # top level: commands may continue on the next line after a backslash
        if (cont == "" && (t == "" || t ~ /^#/)) continue
        if (cont != "") {
            t = cont " " t
        } else {
            contstart = lineno
        }
        if (t ~ /\\$/) {
            cont = substr(t, 1, length(t) - 1)
            continue
        }
        cont = ""
        if (t == "" || t ~ /^#/) continue
        if (t ~ /^%/) {
            if (t ~ /^%(include|ksappend)([ \t]|$)/) {
                n = tokenize(t)
                if (mode != "all") continue
                if (toks[1] == "%ksappend") {
                    print "ks_error " shq(where_of(contstart, file)) " " shq("%ksappend is not supported by the demo media")
                } else if (n != 2) {
                    print "ks_error " shq(where_of(contstart, file)) " " shq("%include needs exactly one file")
                } else {
                    inc = toks[2]
                    if ((getline probe < inc) < 0) {
                        print "ks_error " shq(where_of(contstart, file)) " " shq("%include file " inc " not found")
                    } else {
                        close(inc)
                        process_file(inc, depth + 1)
                    }
                }
                continue
            }
            if (t ~ /^%end([ \t]|$)/) {
                if (mode == "all") print "ks_error " shq(where_of(contstart, file)) " " shq("%end outside a section")
                continue
            }
            section_header(t, where_of(contstart, file))
            continue
        }
        n = tokenize(t)
        if (mode != "all") continue
        if (n < 0) {
            print "ks_error " shq(where_of(contstart, file)) " " shq("unterminated quote")
            continue
        }
        if (n == 0) continue
        emit_words("ks_cmd", where_of(contstart, file) "", 1)
    }
    if (rc < 0 && depth == 0) print "ks_error " shq("0") " " shq("cannot read " file)
    close(file)
    if (depth == 0) close_section()
}

BEGIN {
    section = ""
    secfile = ""
    nsec = 0
    if (dir == "") dir = "/tmp"
    if (mode == "") mode = "all"
    process_file(ks, 0)
    exit 0
}
