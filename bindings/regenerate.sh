#!/usr/bin/env bash
# Regenerates the committed jextract bindings (src/main/java/org/nemotron4j/bindings) from
# native/include/nemotron4j.h. Needs jextract: on PATH, or JEXTRACT=/path/to/jextract (the executable or the
# directory of an unpacked jextract build). See README.md for what this does and why.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
header="$root/native/include/nemotron4j.h"
package=org.nemotron4j.bindings
header_class=nemotron4j_h
dest="$here/src/main/java/${package//.//}"

die() {
    echo "regenerate.sh: $*" >&2
    exit 1
}

# ---- find jextract
jextract="${JEXTRACT:-}"
if [[ -n "$jextract" && -d "$jextract" ]]; then
    jextract="$jextract/bin/jextract"
fi
if [[ -z "$jextract" ]]; then
    jextract=$(command -v jextract || true)
fi
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    die "jextract not found. Install a jextract build (https://jdk.java.net/jextract/) and put its bin/ on PATH,
or point JEXTRACT at it: JEXTRACT=/opt/jextract-22/bin/jextract bindings/regenerate.sh
The committed sources in $dest were left unchanged."
fi
[[ -f "$header" ]] || die "header not found: $header"
echo "using $jextract"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/n4j-jextract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- 1. the symbols to generate: everything nemotron4j.h declares itself, plus the <stdint.h> typedefs its
# prototypes are written in. Without this filter jextract also emits every macro and typedef of the C library
# headers that stdint.h pulls in (hundreds of them, varying with the glibc version of the machine).
"$jextract" --dump-includes "$tmp/all.args" "$header" >/dev/null
grep -E '#[[:space:]]*header:.*nemotron4j\.h[[:space:]]*$' "$tmp/all.args" | sed -e 's/[[:space:]]*#.*$//' > "$tmp/include.args"
[[ -s "$tmp/include.args" ]] || die "jextract --dump-includes listed no symbol of nemotron4j.h (see $tmp/all.args)"
for t in int32_t int64_t uint64_t; do
    echo "--include-typedef $t" >> "$tmp/include.args"
done

# ---- 2. generate into a scratch directory
"$jextract" --target-package "$package" --header-class-name "$header_class" --output "$tmp/out" \
    @"$tmp/include.args" "$header"
gen="$tmp/out/${package//.//}"
[[ -f "$gen/$header_class.java" ]] || die "jextract produced no $header_class.java"

# ---- 3. keep the sources compilable with --release 22 (the project's minimum JDK). jextract builds for JDK 23+
# resolve symbols with SymbolLookup::findOrThrow, which JDK 22 lacks; rewrite those calls to the helper that the
# JDK 22 jextract emits (nemotron4j_h.findOrThrow) and add that helper after SYMBOL_LOOKUP.
if grep -q 'SYMBOL_LOOKUP\.findOrThrow(' "$gen"/*.java; then
    for f in "$gen"/*.java; do
        sed -e "s/SYMBOL_LOOKUP\\.findOrThrow(/$header_class.findOrThrow(/g" "$f" > "$f.tmp" && mv "$f.tmp" "$f"
    done
    if ! grep -q 'static MemorySegment findOrThrow(String symbol)' "$gen/$header_class.java"; then
        awk '
            { print }
            !done && /static final SymbolLookup SYMBOL_LOOKUP/ { inlookup = 1 }
            !done && inlookup && /;[[:space:]]*$/ {
                print ""
                print "    static MemorySegment findOrThrow(String symbol) {"
                print "        return SYMBOL_LOOKUP.find(symbol)"
                print "            .orElseThrow(() -> new UnsatisfiedLinkError(\"unresolved symbol: \" + symbol));"
                print "    }"
                inlookup = 0; done = 1
            }
        ' "$gen/$header_class.java" > "$gen/$header_class.java.tmp"
        mv "$gen/$header_class.java.tmp" "$gen/$header_class.java"
    fi
    echo "rewrote SymbolLookup::findOrThrow calls for --release 22"
fi

# ---- 4. check that the result compiles for JDK 22 before touching the committed sources
javac_bin="javac"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/javac" ]]; then
    javac_bin="$JAVA_HOME/bin/javac"
fi
if command -v "$javac_bin" >/dev/null 2>&1; then
    "$javac_bin" --release 22 -nowarn -d "$tmp/classes" "$gen"/*.java \
        || die "the generated sources do not compile with --release 22; committed sources left unchanged"
else
    echo "warning: no javac found, skipped the compile check" >&2
fi

# ---- 5. replace the committed sources
mkdir -p "$dest"
rm -f "$dest"/*.java
cp "$gen"/*.java "$dest"/
echo "regenerated $(ls "$dest" | wc -l | tr -d ' ') files in $dest"
if command -v git >/dev/null 2>&1 && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" status --short -- "$dest" || true
fi
echo "now run the consistency test: mvn -pl bindings,java/core -Dtest=BindingsConsistencyTest -Dsurefire.failIfNoSpecifiedTests=false test"
