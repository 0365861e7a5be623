#!/usr/bin/env python3
"""Turn memory-access traces of tend into scripts/layout.ld, the linker script that puts
the code and read-only data tend touches on its hot paths first, packed into as few
pages as possible.

    layout.py [--report FILE] [--also PATTERN]... MAP TRACE... > scripts/layout.ld

(as scripts/layout-profile.sh runs it; the report lists what each trace touched, and
every hot section; each --also pattern is added to the hot code after the traced
ones: code that runs natively but not under valgrind).

MAP is lld's -Map output of an unstripped build; each TRACE is the output of
`valgrind --tool=lackey --trace-mem=yes` on one run of that build (instruction fetches
`I`, loads `L`, stores `S`, modifies `M`, one per line). Every input section of .text
and .rodata that an access falls in is hot; the sections are listed in the order they
were first touched, trace by trace, so what the first trace needs comes first.

Each section is named twice: exactly, and by a pattern that survives rebuilds (the
symbol hashes in the names change with the crate's version, the toolchain...):
  .text._ZN4tend4init4main17h0123456789abcdefE  -> .text._ZN4tend4init4main17h*
  (Rust's legacy mangling: the trailing hash, different for each build)
  .text._RNvNtCsaz6eC2DG7lh_3std7process4exit   -> .text._RNvNtCs*_3std7process4exit
  (v0 mangling, which std uses: the crate disambiguators change with the toolchain)
  .rodata.debruijn32.3108                        -> .rodata.debruijn32.*
  (a numbered static of a C object)
Rust's anonymous constants (.rodata..Lanon.HASH.N: string literals, tables) cannot be
named stably at all: their stable pattern is all of them (~50 KiB). A plain .text of
an assembler object is named by its file, which is stable: *libc.a:memcpy.lo(.text)
(an archive member), *crt1.o(.text).

The exact names come first, in first-touch order; the stable patterns follow them and,
in this build, only catch what the exact names left (the other instances of a hot
generic function, the other anonymous constants). A name that matches nothing in a
later build is ignored by the linker, and a hot function added later simply stays
where it would have been: the layout degrades, the build never breaks.
"""

import bisect
import re
import sys

LINE = re.compile(r"^\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+) (.*)$")
INPUT = re.compile(r"^(.*):\((\S+)\)$")
ARCHIVE_MEMBER = re.compile(r"^.*/([^/()]+\.a)\(([^()]+)\)$")
LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E$")
V0_CRATE = re.compile(r"Cs[0-9A-Za-z]+_")
NUMBERED = re.compile(r"\.[0-9]+$")
ANON = "*(.rodata..Lanon.* .rodata..L__unnamed*)"
# The binary's allocator arena (src/arena.rs, the static ALLOC of src/main.rs) after the
# rest of .bss: in the middle, it kept apart the small variables that every process
# touches (libc's, std's), so that they took a page more, and a fault more, each.
ARENA_LAST = [
    "/* The allocator's arena (src/arena.rs) after the rest of .bss, whose variables",
    " * every process touches: together they take fewer pages. */",
    "SECTIONS {",
    "  .bss.arena (NOLOAD) : { *(.bss._ZN4tend5ALLOC17h*) }",
    "} INSERT AFTER .bss;",
]
# What the layout orders: the input sections of these output sections.
ORDERED = (".text", ".rodata")


def read_map(path):
    """Input sections with a size, as (start, size, output section, file, section)."""
    secs = []
    out = None
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            vma, size, rest = int(m.group(1), 16), int(m.group(3), 16), m.group(5)
            indent = len(rest) - len(rest.lstrip(" "))
            rest = rest.strip()
            if indent == 0:
                out = rest
            elif indent == 8 and size > 0 and out in ORDERED:
                im = INPUT.match(rest)
                if im:
                    secs.append((vma, size, out, im.group(1), im.group(2)))
    secs.sort()
    return secs


def touched(secs, traces):
    """Indices into secs in first-touch order, and per trace the set it touched."""
    starts = [s[0] for s in secs]
    order, seen, per_trace = [], set(), []
    for path in traces:
        mine = set()
        with open(path) as f:
            for line in f:
                if len(line) < 4 or line[0] == "=":
                    continue
                try:
                    addr = int(line[3:].split(",", 1)[0], 16)
                except ValueError:
                    continue
                i = bisect.bisect_right(starts, addr) - 1
                if i < 0 or addr >= secs[i][0] + secs[i][1] or i in mine:
                    continue
                mine.add(i)
                if i not in seen:
                    seen.add(i)
                    order.append(i)
        per_trace.append(mine)
    return order, per_trace


def patterns(file, section):
    """Input section descriptions for this section: the exact one, which names it in
    this build (None if it cannot be named), and a stable one, which names it in any
    build of nearby source (None if the exact one is stable already)."""
    if section.startswith(".rodata..Lanon.") or section.startswith(".rodata..L__unnamed"):
        return f"*({section})", ANON
    if section in (".text", ".rodata"):
        # An assembler object's plain section: name the object (a member of an
        # archive, or a C runtime object such as crt1.o), never a Rust object (those
        # use one section per function, and the object's name has a hash).
        am = ARCHIVE_MEMBER.match(file)
        if am:
            return f"*{am.group(1)}:{am.group(2)}({section})", None
        base = file.rsplit("/", 1)[-1]
        if base.endswith(".rcgu.o") or "(" in base:
            return None, None
        return f"*{base}({section})", None
    stable = LEGACY_HASH.sub("17h*", section)
    stable = V0_CRATE.sub("Cs*_", stable)
    stable = NUMBERED.sub(".*", stable)
    return f"*({section})", (f"*({stable})" if stable != section else None)


def script(secs, order, also=()):
    """The linker script. Each output section gets the exact descriptions first, in
    first-touch order, then the stable ones: in this build they only catch what the
    exact ones did not (the other instances of a generic function, the other anonymous
    constants), after everything hot; in a later build whose names have changed (a new
    version or toolchain changes every hash) they still keep the hot code together."""
    exact = {out: [] for out in ORDERED}
    stable = {out: [] for out in ORDERED}
    for i in order:
        _, _, out, file, section = secs[i]
        e, st = patterns(file, section)
        if e is not None and e not in exact[out]:
            exact[out].append(e)
        if st is not None and st not in stable[out]:
            stable[out].append(st)
    for p in also:
        if p not in exact[".text"]:
            exact[".text"].append(p)
    blocks = {out: exact[out] + [p for p in stable[out] if p not in exact[out]] for out in ORDERED}
    text = [
        "/* Generated by scripts/layout-profile.sh (scripts/layout.py): do not edit by hand.",
        " * The code and read-only data that tend's hot paths touch (see layout-profile.sh for",
        " * which), in the order they first touch it, ahead of the rest of .text and .rodata,",
        " * so that those paths fault in few pages: a process's resident text and rodata are",
        " * counted in 64 KiB fault-around windows. Used by .cargo/config.toml for the musl",
        " * build (linked by rust-lld); patterns that match nothing are ignored. */",
    ]
    for out in ORDERED:
        if not blocks[out]:
            continue
        text.append("SECTIONS {")
        if out == ".text":
            # The C runtime's _init and _fini, run at every start and exit, are
            # otherwise placed after all of .text.
            text.append("  .init : { KEEP(*(SORT_NONE(.init))) }")
            text.append("  .fini : { KEEP(*(SORT_NONE(.fini))) }")
        text.append(f"  {out}.hot : {{")
        text.extend(f"    {p}" for p in blocks[out])
        text.append("  }")
        text.append(f"}} INSERT BEFORE {out};")
    text.extend(ARENA_LAST)
    return "\n".join(text) + "\n"


def report(out, secs, traces, order, per_trace):
    for path, mine in zip(traces, per_trace):
        print(f"== {path}", file=out)
        for o in ORDERED:
            hit = [i for i in order if i in mine and secs[i][2] == o]
            size = sum(secs[i][1] for i in hit)
            print(f"   {o}: {len(hit)} sections, {size} bytes", file=out)
    for o in ORDERED:
        hit = [i for i in order if secs[i][2] == o]
        print(f"== all {o}: {len(hit)} sections, {sum(secs[i][1] for i in hit)} bytes", file=out)
        for i in hit:
            print(f"   {secs[i][1]:7d} {secs[i][4][:140]}", file=out)


def main(argv):
    rep, also = None, []
    while len(argv) > 1 and argv[0] in ("--report", "--also"):
        if argv[0] == "--report":
            rep = argv[1]
        else:
            also.append(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    secs = read_map(argv[0])
    order, per_trace = touched(secs, argv[1:])
    if rep is not None:
        with open(rep, "w") as out:
            report(out, secs, argv[1:], order, per_trace)
    sys.stdout.write(script(secs, order, also))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
