#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge one kernel's test guest: its KTAP results and its kernel log.

Reads <dir>/results.ktap (the guest's second serial port) and
<dir>/console.log (its kernel log), or those of every <dir>/shard-*/ when
the plan was split over several guests, and <dir>/host.ktap (stages run on
the host, such as the DKMS build), and prints, for kernel K:

- every top-level result, by section (host, kunit, selftest, sample, qemu,
  peer, system, boot), as "  K: <result line>";
- "runner": whether every guest finished its plan (no panic, no timeout);
- "kernel-log": the splats in the kernel log, each with the test that was
  running, and whether every one of them is a known upstream report
  (scripts/known-splats.txt: "<test> <on-debug> <fixed string>", known
  only while that test or a variant "test.x" runs);
- the kmemleak summary the guest printed;
- one count line per section.

It writes <dir>/judge.counts ("<section> <passed> <failed> <skipped>" per
line) and <dir>/judge.failures (what failed and why, for the end of the
output, which is all a CI log may keep), and exits 1 when anything failed.

Usage: judge.py <K> <dir> [known-splats file]
       judge.py --self-test [fixtures dir]
"""
import os
import re
import subprocess
import sys
import tempfile

SECTIONS = ('host', 'kunit', 'selftest', 'sample', 'qemu', 'peer', 'system',
            'boot')
DONE = '# KVM_MEMEXT_RUNNER_DONE'
SPLAT = re.compile(
    r'Oops|WARNING:|BUG:|KASAN:|UBSAN:|general protection fault'
    r'|possible circular locking|possible recursive locking'
    r'|inconsistent lock state|suspicious RCU usage'
    r'|rcu: INFO: .* detected stall|blocked for more than'
    r'|unreferenced object|Kernel panic')
RESULT = re.compile(r'^(not )?ok [0-9]+ ')
DETAIL_MAX = 25


def read_lines(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return [line.rstrip('\r\n') for line in f]
    except FileNotFoundError:
        return []


def load_known(path):
    """(test, signature) pairs of known upstream splats."""
    known = []
    for line in read_lines(path):
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[0].startswith('#'):
            continue
        known.append((parts[0], parts[2]))
    return known


def is_known(known, test, line):
    name = test.split('/', 1)[-1]
    for ktest, sig in known:
        if (name == ktest or name.startswith(ktest + '.')) and sig in line:
            return True
    return False


def scan_console(lines):
    """Splat lines, each with the stage/name of the test then running."""
    test = '-'
    splats = []
    for line in lines:
        m = re.search(r'kvm_memext-runner: (begin|end) (\S+)', line)
        if m:
            test = m.group(2) if m.group(1) == 'begin' else '-'
            continue
        if SPLAT.search(line):
            splats.append((test, line))
    return splats


def failure_details(kernel, lines):
    """Each failed top-level result with its failed subtests and notes."""
    out = []
    buf = []
    assertion = 0
    for line in lines:
        if RESULT.match(line):
            if line.startswith('not '):
                out.append(f'{kernel}: {line}')
                out.extend(f'{kernel}:     {b}' for b in buf[:DETAIL_MAX])
                if len(buf) > DETAIL_MAX:
                    out.append(f'{kernel}:     ... {len(buf) - DETAIL_MAX} '
                               'more lines in results.ktap')
            buf = []
            assertion = 0
            continue
        if 'Test Assertion Failure' in line:
            assertion = 4
            continue
        if assertion and 'addr2line' not in line:
            assertion -= 1
            buf.append(line.strip())
            continue
        stripped = line.lstrip()
        if re.match(r'(not ok|#)', stripped) and '# Totals:' not in line:
            buf.append(stripped)
    return out


def shard_dirs(outdir):
    """The directories of the guests that ran the kernel's plan."""
    def key(d):
        n = d.split('-', 1)[1]
        return (0, int(n), '') if n.isdigit() else (1, 0, n)

    shards = sorted((d for d in os.listdir(outdir) if d.startswith('shard-')
                     and os.path.isdir(os.path.join(outdir, d))), key=key)
    return [os.path.join(outdir, d) for d in shards] or [outdir]


def judge(kernel, outdir, known_path):
    shards = shard_dirs(outdir)
    host = read_lines(os.path.join(outdir, 'host.ktap'))
    results = []
    console = []
    unfinished = []
    for shard in shards:
        own = read_lines(os.path.join(shard, 'results.ktap'))
        results.extend(own)
        console.extend(read_lines(os.path.join(shard, 'console.log')))
        if DONE not in own:
            unfinished.append(shard)
    known = load_known(known_path)
    results = host + results
    counts = {}
    report = []
    failures = []

    def count(section, what):
        counts.setdefault(section, [0, 0, 0])[what] += 1

    if len(results) == len(host):
        results.append(f'not ok 1 {kernel}/boot # no results from the guest')
    for section in SECTIONS:
        own = re.compile(rf'^(not )?ok [0-9]+ {section}[/.]'
                         rf'|^not ok [0-9]+ {re.escape(kernel)}/{section}')
        for line in results:
            if not own.match(line):
                continue
            if line.startswith('not '):
                count(section, 1)
            elif '# SKIP' in line:
                count(section, 2)
            else:
                count(section, 0)
            report.append(f'  {kernel}: {line}')

    for shard in unfinished:
        report.append(f'  {kernel}: not ok {kernel}/runner # guest did not '
                      'finish (timeout or panic), see '
                      f'{os.path.join(shard, "console.log")}')
        count('runner', 1)

    splats = scan_console(console)
    unknown = [s for s in splats if not is_known(known, *s)]
    if unknown:
        report.append(f'  {kernel}: not ok {kernel}/kernel-log # splat in '
                      'the kernel log:')
        report.extend(f'      {t} {line}' for t, line in splats[:20])
        count('kernel-log', 1)
    elif splats:
        report.append(f'  {kernel}: ok {kernel}/kernel-log # known upstream '
                      'splats only:')
        report.extend(f'      {t} {line}' for t, line in splats)
        count('kernel-log', 0)
    else:
        report.append(f'  {kernel}: ok {kernel}/kernel-log # no splat')
        count('kernel-log', 0)
    report.extend(f'  {kernel}: {line}' for line in results
                  if line.startswith('# kmemleak'))

    failures.extend(failure_details(kernel, results))
    if unknown:
        failures.append(f'{kernel}: kernel-log splats:')
        failures.extend(f'{t} {line}' for t, line in unknown[:10])
    for shard in unfinished:
        name = '' if shard == outdir else ' ' + os.path.basename(shard)
        failures.append(f'{kernel}: guest{name} did not finish; last console '
                        'lines:')
        failures.extend(read_lines(os.path.join(shard, 'console.log'))[-15:])

    order = SECTIONS + ('runner', 'kernel-log')
    for section in order:
        if section in counts:
            p, f, s = counts[section]
            report.append(f'  {kernel}: {section:<10} {p} passed, {f} failed, '
                          f'{s} skipped')
    with open(os.path.join(outdir, 'judge.counts'), 'w') as f:
        for section in order:
            if section in counts:
                print(section, *counts[section], file=f)
    with open(os.path.join(outdir, 'judge.failures'), 'w') as f:
        for line in failures:
            print(line, file=f)
    print('\n'.join(report))
    return 1 if any(c[1] for c in counts.values()) else 0


def self_test(fixtures):
    """Judge every fixture directory and compare with its "expected".

    "expected" holds the judge.counts lines, "exit <n>", and any number of
    "failure <text>" lines (text that judge.failures must contain) and
    "report <text>" lines (text the report must contain).
    """
    known = os.path.join(fixtures, 'known-splats.txt')
    bad = 0
    cases = sorted(d for d in os.listdir(fixtures)
                   if os.path.isdir(os.path.join(fixtures, d)))
    for case in cases:
        src = os.path.join(fixtures, case)
        with tempfile.TemporaryDirectory() as tmp:
            for sub in [''] + sorted(d for d in os.listdir(src)
                                     if d.startswith('shard-')):
                os.makedirs(os.path.join(tmp, sub), exist_ok=True)
                for name in ('results.ktap', 'console.log', 'host.ktap'):
                    path = os.path.join(src, sub, name)
                    if os.path.exists(path):
                        with open(path) as i, open(
                                os.path.join(tmp, sub, name), 'w') as o:
                            o.write(i.read())
            run = subprocess.run([sys.executable, __file__, 'K', tmp, known],
                                 capture_output=True, text=True)
            counts = read_lines(os.path.join(tmp, 'judge.counts'))
            fails = '\n'.join(read_lines(os.path.join(tmp, 'judge.failures')))
        problems = []
        want_counts = []
        for line in read_lines(os.path.join(src, 'expected')):
            key, _, rest = line.partition(' ')
            if key == 'exit':
                if run.returncode != int(rest):
                    problems.append(f'exit {run.returncode}, want {rest}')
            elif key == 'failure':
                if rest not in fails:
                    problems.append(f'failures lack "{rest}"')
            elif key == 'report':
                if rest not in run.stdout:
                    problems.append(f'report lacks "{rest}"')
            elif line:
                want_counts.append(line)
        if counts != want_counts:
            problems.append(f'counts {counts}, want {want_counts}')
        if run.stderr:
            problems.append('stderr: ' + run.stderr.strip())
        print(f'{"not ok" if problems else "ok"} {cases.index(case) + 1} '
              f'judge/{case}')
        for p in problems:
            print(f'    # {p}')
        bad += bool(problems)
    print(f'1..{len(cases)}')
    return 1 if bad or not cases else 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    if len(argv) >= 2 and argv[1] == '--self-test':
        return self_test(argv[2] if len(argv) > 2 else
                         os.path.join(here, 'tests', 'judge'))
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    known = argv[3] if len(argv) == 4 else os.path.join(here,
                                                        'known-splats.txt')
    return judge(argv[1], argv[2], known)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
