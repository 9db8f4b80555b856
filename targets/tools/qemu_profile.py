#!/usr/bin/env python3
"""Instructions per function of a firmware run, from QEMU's execution log.

Reads `qemu -d in_asm,exec,nochain` output on stdin: `in_asm` gives each translation block's
instructions once, `exec` (with `nochain`) logs every block executed. Prints instructions per symbol,
the hottest blocks, and, given the ELF (argument 1) and arm-none-eabi-addr2line, instructions per
innermost inlined frame and per `session.rs` line, divided by the tokens (argument 2, default 1).
Used through targets/qemu-profile.
"""
import collections
import re
import subprocess
import sys

elf = sys.argv[1] if len(sys.argv) > 1 else None
tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 1
tb_len, tb_sym = {}, {}
per_sym, per_tb = collections.Counter(), collections.Counter()
cur = cur_sym = None
trace = re.compile(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
for line in sys.stdin:
    if line.startswith("Trace"):
        m = trace.match(line)
        if m:
            a = int(m.group(1), 16)
            n = tb_len.get(a, 0)
            per_sym[tb_sym.get(a, "?")] += n
            per_tb[a] += n
    elif line.startswith("IN:"):
        cur_sym, cur = line[3:].strip(), None
    elif line.startswith("0x") and cur_sym is not None:
        addr = int(line.split(":")[0], 16)
        if cur is None:
            cur = addr
            tb_len[cur] = 0
        tb_len[cur] += 1
        tb_sym[cur] = cur_sym
    elif not line.strip():
        cur_sym = None

total = sum(per_sym.values())
print(f"total {total} instructions ({total / tokens:.0f} per token over {tokens})")


def show(title, counter, n, line):
    """The `n` largest entries of `counter`, one `line(key, count)` each, under `title`."""
    print(f"--- {title} (per token)")
    for k, c in counter.most_common(n):
        print(f"{c / tokens:12.0f} {line(k, c)}")


show("per symbol", per_sym, 30, lambda s, c: f"{100 * c / max(total, 1):6.2f}% {s}")
show("hottest blocks", per_tb, 25, lambda a, c: f"{a:08x} x{tb_len.get(a)} {tb_sym.get(a, '?')[:70]}")
if elf:
    inner, session = collections.Counter(), collections.Counter()
    for a, c in per_tb.items():
        if c < total * 0.0005:
            continue
        out = subprocess.run(["arm-none-eabi-addr2line", "-e", elf, "-f", "-i", "-C", hex(a)],
                             capture_output=True, text=True).stdout.split("\n")
        frames = list(zip(out[0::2], out[1::2]))
        if not frames:
            continue
        fn, loc = frames[0]
        inner[f"{fn.split('::')[-1][:40]} {loc.split('/')[-1]}"] += c
        for _, loc2 in frames:
            if "session.rs" in loc2:
                session[loc2.split("/")[-1]] += c
                break
    show("per innermost inlined frame", inner, 40, lambda k, c: k)
    show("per session.rs line", session, 20, lambda k, c: k)
