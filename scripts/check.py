#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Schedule the whole test suite over the kernel matrix, in lanes.

scripts/check.sh starts this with the kernels to test (default: those with
the "check" role in scripts/kernels.conf).  For each kernel K a "prep" job
makes it ready: fetch or build it (kernel.sh), build the module and tests
(build-tests.sh), on a stock kernel build the module through DKMS
(dkms-check.sh), for the default kernel the Debian packages
(deb-check.sh), write its plan (plan.sh), filter it (ONLY, REPEAT) and
split it into shards.  Then a "boot" job per shard boots it under QEMU
(check.sh --boot), and on a kernel with the "system" role one more runs
the system stage (system-check.sh).  judge.py judges each kernel once
every job is done, and the summary ends with "N passed, N failed, N
skipped"; the exit status is 1 on any failure, splat, leak or timeout.

The jobs run bash; this script only decides what runs when, and keeps the
books.  In build/results/<K>/: plan, shards ("<estimated s> <shard>" per
line), shard-<n>/ (plan, results.ktap, console.log), build.log,
host.ktap, timings ("<K>:<stage> <s>"), judge.out, judge.counts and
judge.failures.  $CACHE/durations-<K> holds each test's time in the last
unfiltered run, for the next split.

Environment: ONLY=<regex> (keep the plan lines whose "stage/name"
matches), REPEAT=<n> (each kept line n times in one boot),
KVM_MEMEXT_JOBS (lanes), KVM_MEMEXT_SHARD_SECS (seconds of tests per
shard, 200), KVM_MEMEXT_BOOT_TIMEOUT (2400), KVM_MEMEXT_SYSTEM_TIMEOUT
(1800), and plan.sh's campaign sizes (KILLS, FUZZ_CALLS, TRINITY_SECS,
BATCH_CYCLES), which keep a run's durations from being saved.

Usage: check.py [kernel...]
       check.py --self-test [fixtures dir]   (check_test.py)
"""
import collections
import functools
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
COLUMNS = ('name', 'kind', 'arch', 'source', 'config', 'roles')
DEFAULT_EST = 30    # seconds: a plan line not timed on this machine yet
SYSTEM_EST = 600    # the system stage, as long as about 3 shards
SHARD_SECS = 200    # seconds of tests per shard by default
# Campaign sizes and filtered runs would mislead the next split.
NO_DURATIONS = ('ONLY', 'REPEAT', 'KILLS', 'FUZZ_CALLS', 'TRINITY_SECS',
                'BATCH_CYCLES')
KTAP_TIME = re.compile(r'^(not )?ok [0-9]+ ([^ ]+) .*time=([0-9.]+)s')
NUMBER = re.compile(r'\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?')


# Files and numbers, read as bash and awk read them.

def read_text(path):
    """A file's text as is, '' when it does not exist."""
    try:
        with open(path, encoding='utf-8', errors='replace', newline='') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def read_lines(path):
    """A file's lines as `read` sees them, [] when it does not exist."""
    lines = read_text(path).split('\n')
    return lines[:-1] if lines[-1] == '' else lines


def write_lines(path, lines, mode='w'):
    """Write (mode 'a': append) lines to a file, each ended by a newline."""
    with open(path, mode, encoding='utf-8') as f:
        f.writelines(line + '\n' for line in lines)


def nonempty(path):
    """Test -s: the file exists and is not empty."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def number(text):
    """The leading number of text as awk reads it; 0 without one."""
    m = NUMBER.match(text)
    return float(m.group(0)) if m else 0.0


def integer(text):
    """An integer as printf's %d takes it; 0 for anything else."""
    try:
        return int(text)
    except ValueError:
        return 0


def log(msg):
    """Progress to stderr, as lib.sh's log() does."""
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


# The kernel matrix.

def load_matrix(path):
    """Kernels of kernels.conf by name, in file order, as dicts of COLUMNS.

    The same columns as lib.sh's kernel_field; "roles" is a list.
    """
    matrix = {}
    for line in read_lines(path):
        fields = line.split()
        if not fields or line.startswith('#'):
            continue
        kernel = dict(zip(COLUMNS, fields + [''] * len(COLUMNS)))
        kernel['roles'] = [r for r in kernel['roles'].split(',') if r]
        matrix.setdefault(kernel['name'], kernel)
    return matrix


def kernels_with(matrix, role):
    """The kernels that have a role, in file order."""
    return [k for k, v in matrix.items() if role in v['roles']]


# Lanes: single-threaded TCG keeps one host CPU busy per guest, so up to
# one job runs per CPU.  Builds beside guests (module, tests, DKMS) run
# niced, with one job per CPU that no guest needs: with more runnable
# threads than CPUs, timing-sensitive tests failed (runstate_test on 6.1).

def lane_rules(jobs, nproc):
    """(lanes, build_nice, build_jobs) for KVM_MEMEXT_JOBS and nproc."""
    try:
        lanes = int(jobs) if jobs else nproc
    except ValueError:
        lanes = 1
    lanes = max(lanes, 1)
    build_nice = 0 if lanes == 1 else 10
    build_jobs = max(nproc - lanes + 1, 1)
    return lanes, build_nice, build_jobs


# The plan.

class PlanFilter:
    """ONLY=<regex> keeps the plan lines whose "stage/name" matches, for
    quick iterations; REPEAT=<n> runs each kept line n times in one boot,
    to hunt rare failures.  Comment lines stay, once.  A filtered run says
    so in its summary.
    """

    def __init__(self, only='', repeat=''):
        try:
            self.only = re.compile(only) if only else None
        except re.error as e:
            raise ValueError(f"ONLY='{only}': {e}") from None
        try:
            self.repeat = int(repeat) if repeat else 1
        except ValueError:
            raise ValueError(f"REPEAT='{repeat}': not a number") from None

    def keeps(self, stage, name):
        """Whether a line "<stage> <name> ..." stays in the plan."""
        return self.repeat > 0 and (
            self.only is None or bool(self.only.search(f'{stage}/{name}')))

    def apply(self, lines):
        out = []
        for line in lines:
            if line.startswith('#'):
                out.append(line)
                continue
            fields = line.split() + ['', '']
            if self.keeps(fields[0], fields[1]):
                out.extend([line] * self.repeat)
        return out


def is_test(line):
    """A plan line that runs a test: neither a comment nor empty."""
    return not line.startswith('#') and bool(line.split())


def plan_key(line):
    """A plan line's "stage/name", the key of its duration."""
    fields = line.split() + ['']
    return f'{fields[0]}/{fields[1]}'


def load_durations(path):
    """Seconds per "stage/name" in a durations file; the last line wins."""
    est = {}
    for line in read_lines(path):
        fields = line.split()
        if fields:
            est[fields[0]] = number(fields[1]) if len(fields) > 1 else 0.0
    return est


def shard_count(ests, secs):
    """Shards of about secs seconds of tests each, one test at least each."""
    n = int(sum(ests) / secs + 0.5)
    return max(min(n, len(ests)), 1)


def deal(ests, n):
    """Deal the lines, longest first, each to the lightest of n shards.

    Returns each line's shard (0-based) and each shard's load; ties go to
    the earlier line and the lower shard.
    """
    to = [0] * len(ests)
    load = [0.0] * n
    for i in sorted(range(len(ests)), key=lambda i: -ests[i]):
        low = min(range(n), key=lambda s: load[s])
        to[i] = low
        load[low] += ests[i]
    return to, load


def split_plan(plan, est, secs):
    """Shards of a plan: (lines in plan order, estimated load) per shard.

    A shard is part of a kernel's plan booted as a guest of its own, so
    that the lanes stay busy to the end of the run and a long kernel does
    not hold one lane while the other idles.  The lines are dealt longest
    first to the lightest shard and keep their order within it.  A line's
    length is its time in the last run on this machine (est, from
    $CACHE/durations-<K>), else DEFAULT_EST; a shard holds about secs
    (KVM_MEMEXT_SHARD_SECS) seconds of tests.
    """
    lines = [line for line in plan if is_test(line)]
    ests = [est.get(plan_key(line), DEFAULT_EST) for line in lines]
    n = shard_count(ests, secs)
    to, load = deal(ests, n)
    return [([line for line, s in zip(lines, to) if s == shard], load[shard])
            for shard in range(n)]


def merge_durations(old, ktap):
    """Durations file lines: old ones updated by the times in KTAP lines."""
    new = {}
    for line in ktap:
        m = KTAP_TIME.match(line)
        if m:
            new[m.group(2)] = m.group(3)
    kept = [line for line in old if (line.split() or [''])[0] not in new]
    return kept + [f'{k} {v}' for k, v in new.items()]


# Running jobs.

def run_command(cmd, out=None, append=False, env=None, merge_stderr=False):
    """Run cmd, its stdout into file out (or ours); its exit status.

    stdin is /dev/null, as for bash's background jobs; env adds to ours.
    """
    if env:
        env = dict(os.environ, **env)
    try:
        if out is None:
            sys.stdout.flush()
            return subprocess.run(cmd, stdin=subprocess.DEVNULL,
                                  env=env).returncode
        with open(out, 'ab' if append else 'wb') as f:
            return subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=f, env=env,
                stderr=subprocess.STDOUT if merge_stderr else None
            ).returncode
    except OSError as e:
        log(f'{cmd[0]}: {e}')
        return 127


class Job:
    """A job of a lane: "prep K", or "boot K <shard>" with its estimate."""

    def __init__(self, kind, kernel, work, shard=None, est=0):
        self.kind = kind
        self.kernel = kernel
        self.shard = shard
        self.est = est
        self.work = work

    @property
    def name(self):
        return ' '.join(filter(None, (self.kind, self.kernel, self.shard)))

    def run(self):
        """Do the job; its exit status (1 when it raised)."""
        try:
            return self.work()
        except Exception:   # a job that dies is a failed job, as in bash
            traceback.print_exc()
            return 1


class ThreadRunner:
    """Starts each job in a thread of its own; wait() returns the next to
    end, as bash's `wait -n -p` did for background jobs.
    """

    def __init__(self):
        self.ended = queue.Queue()

    def start(self, job):
        def work():
            self.ended.put((job, job.run()))

        threading.Thread(target=work, name=job.name, daemon=True).start()

    def wait(self):
        """(job, exit status) of a job that ended."""
        return self.ended.get()


class Check:
    """One run of the test suite: its settings, jobs and books.

    run (run_command), clock, log and nproc are injectable for the
    self-test, which runs fake jobs.
    """

    def __init__(self, env, top=TOP, out=None, run=run_command,
                 clock=time.monotonic, nproc=None, log=log):
        self.env = env
        self.top = top
        self.out = out or os.path.join(top, 'build', 'results')
        self.cache = env.get('KVM_MEMEXT_CACHE') or os.path.join(
            env.get('XDG_CACHE_HOME') or os.path.join(
                env.get('HOME', ''), '.cache'), 'kvm_memext')
        self.matrix = load_matrix(os.path.join(top, 'scripts',
                                               'kernels.conf'))
        self.run = run
        self.clock = clock
        self.log = log
        self.nproc = nproc or len(os.sched_getaffinity(0))
        self.lanes, self.build_nice, self.build_jobs = lane_rules(
            env.get('KVM_MEMEXT_JOBS'), self.nproc)
        self.filter = PlanFilter(env.get('ONLY', ''), env.get('REPEAT', ''))
        secs = number(env.get('KVM_MEMEXT_SHARD_SECS') or str(SHARD_SECS))
        self.shard_secs = secs if secs > 0 else SHARD_SECS
        self.books = threading.Lock()

    # Where things are.

    def script(self, name):
        return os.path.join(self.top, 'scripts', name)

    def kdir(self, k, *names):
        return os.path.join(self.out, k, *names)

    def kind(self, k):
        return self.matrix[k]['kind']

    @property
    def all_kernels(self):
        return kernels_with(self.matrix, 'check')

    def is_default(self, k):
        return ' '.join(kernels_with(self.matrix, 'default')) == k

    def env_value(self, name, default):
        """An environment variable, default when unset or empty."""
        return self.env.get(name) or default

    # The steps of the jobs.

    def niced(self, name, *args):
        return ['nice', '-n', str(self.build_nice), self.script(name), *args]

    def kernel_cached(self, k):
        """Whether kernel K is in the cache (else kernel.sh builds or
        fetches it)."""
        return self.run([self.script('check.sh'), '--cached', k]) == 0

    def timing(self, k, stage, t0):
        with self.books:
            write_lines(self.kdir(k, 'timings'),
                        [f'{k}:{stage} {int(self.clock() - t0)}'], 'a')

    def prep_failed(self, k, stage, why, before=()):
        """Say why kernel K is not ready, in judge.out and judge.counts."""
        write_lines(self.kdir(k, 'judge.out'),
                    [*before, f'  {k}: not ok {k}/{stage} # {why}'])
        write_lines(self.kdir(k, 'judge.counts'), [f'{stage} 0 1 0'])
        return 1

    def prep(self, k):
        """Job "prep K": fetch or build kernel K, build the module and
        tests, write and split its plan.  Progress goes to stderr, a
        failure to judge.out and judge.counts; the stage timings to
        timings.
        """
        t0 = self.clock()
        # A kernel build runs while no guest does (see schedule()).
        jobs = self.build_jobs if self.kernel_cached(k) else self.nproc
        if self.run(self.niced('kernel.sh', k),
                    env={'KVM_MEMEXT_BUILD_JOBS': str(jobs)}):
            return self.prep_failed(k, 'kernel',
                                    'could not fetch or build the kernel')
        self.timing(k, 'kernel', t0)
        t0 = self.clock()
        build_env = {'KVM_MEMEXT_BUILD_JOBS': str(self.build_jobs)}
        build_log = self.kdir(k, 'build.log')
        if self.run(self.niced('build-tests.sh', k), out=build_log,
                    env=build_env, merge_stderr=True):
            return self.prep_failed(k, 'build',
                                    'module or tests failed to build',
                                    read_lines(build_log)[-30:])
        self.timing(k, 'build', t0)
        host = self.kdir(k, 'host.ktap')
        # What an operator does on a distribution kernel: DKMS.
        if self.kind(k) == 'stock' and self.filter.keeps('host', 'dkms'):
            self.run(self.niced('dkms-check.sh', k), out=host, env=build_env)
        # The Debian packages, once (they hold no kernel's build).
        if self.is_default(k) and self.filter.keeps('host', 'deb'):
            self.run(self.niced('deb-check.sh'), out=host, append=True)
        plan = self.kdir(k, 'plan')
        if self.run([self.script('plan.sh'), k], out=plan):
            return self.prep_failed(k, 'plan', 'could not write the plan')
        lines = self.filter.apply(read_lines(plan))
        write_lines(plan, lines)
        write_lines(self.kdir(k, 'judge.out'),
                    [f'  {k}: {line}' for line in lines
                     if line.startswith('#')])
        self.write_shards(k, lines)
        return 0

    def write_shards(self, k, plan):
        """Split kernel K's plan into shard-<n>/plan, listed in shards."""
        est = load_durations(os.path.join(self.cache, f'durations-{k}'))
        shards = []
        for n, (lines, load) in enumerate(
                split_plan(plan, est, self.shard_secs), 1):
            os.makedirs(self.kdir(k, f'shard-{n}'), exist_ok=True)
            write_lines(self.kdir(k, f'shard-{n}', 'plan'), lines)
            shards.append(f'{int(load)} {n}')
        # The system stage (system-check.sh): a Debian system booted on
        # a kernel with the "system" role; a job of its own, as long as
        # about 3 shards.
        if ('system' in self.matrix[k]['roles']
                and self.filter.keeps('system', 'debian')):
            shards.append(f'{SYSTEM_EST} system')
        write_lines(self.kdir(k, 'shards'), shards)

    def boot(self, k, shard):
        """Job "boot K N": boot shard N of kernel K, or the system stage."""
        sdir = self.kdir(k, f'shard-{shard}')
        t0 = self.clock()
        if shard == 'system':
            self.run([self.script('system-check.sh'), k, sdir,
                      self.env_value('KVM_MEMEXT_SYSTEM_TIMEOUT', '1800')])
            with self.books:
                write_lines(self.kdir(k, 'timings'),
                            read_lines(os.path.join(sdir, 'timings')), 'a')
            return 0
        self.run([self.script('check.sh'), '--boot', k,
                  os.path.join(sdir, 'plan'), sdir,
                  self.env_value('KVM_MEMEXT_BOOT_TIMEOUT', '2400')])
        self.timing(k, f'shard-{shard}', t0)
        return 0

    # The lanes.

    def prep_order(self, kernels):
        """Kernels are made ready first, a debug kernel (built here, the
        longest) before the stock ones."""
        return ([k for k in kernels if self.kind(k) == 'debug']
                + [k for k in kernels if self.kind(k) != 'debug'])

    def shard_jobs(self, k):
        """The boot jobs of ready kernel K, from its shards file."""
        jobs = []
        for line in read_lines(self.kdir(k, 'shards')):
            est, shard = line.split()
            jobs.append(Job('boot', k, functools.partial(self.boot, k, shard),
                            shard, int(est)))
        return jobs

    def next_boot(self, boots):
        """Take the longest of the boot jobs (the first of equals)."""
        boots.sort(key=lambda job: -job.est)
        job = boots.pop(0)
        shards = read_lines(self.kdir(job.kernel, 'shards'))
        self.log(f'{job.kernel}: shard {job.shard} of {len(shards)}')
        return job

    def schedule(self, kernels, runner):
        """Run every job, up to one per lane at a time.

        Kernels are made ready first, in prep_order(); then the shards of
        the ready kernels run, longest first (ties in the order they came).
        A debug kernel that must be built gets every CPU, and no guest
        starts until it is done: beside guests it had one CPU's worth
        (27.7 min for 7.3 against 17.5), and timing-sensitive tests
        failed when more runnable threads than CPUs shared the machine.
        The other preps (downloads, stock kernels) may run beside it.

        runner.start(job) starts a job and runner.wait() returns (job,
        exit status) of one that ended: ThreadRunner, or the self-test's
        FakeRunner.
        """
        preps = collections.deque(self.prep_order(kernels))
        boots = []
        running = set()
        building = None     # the prep job that builds a kernel
        while True:
            while len(running) < self.lanes:
                if preps:
                    k = preps.popleft()
                    job = Job('prep', k, functools.partial(self.prep, k))
                    if self.kind(k) == 'debug' and not self.kernel_cached(k):
                        building = job
                elif boots and building is None:
                    job = self.next_boot(boots)
                else:
                    break
                running.add(job)
                runner.start(job)
            if not running:
                break
            job, rc = runner.wait()
            running.discard(job)
            if job is building:
                building = None
            if job.kind == 'prep' and rc == 0:
                boots.extend(self.shard_jobs(job.kernel))

    # The books.

    def save_durations(self, k):
        """Remember how long each test took, for the next split."""
        path = os.path.join(self.cache, f'durations-{k}')
        ktap = []
        for d in sorted(os.listdir(self.kdir(k))):
            if d.startswith('shard-'):
                ktap += read_lines(self.kdir(k, d, 'results.ktap'))
        write_lines(path + '.tmp', merge_durations(read_lines(path), ktap))
        os.replace(path + '.tmp', path)

    def judge(self, kernels):
        """judge.py on each kernel that a failed prep did not judge."""
        for k in kernels:
            if nonempty(self.kdir(k, 'judge.counts')):
                continue
            self.run([sys.executable, self.script('judge.py'), k,
                      self.kdir(k)], out=self.kdir(k, 'judge.out'),
                     append=True)
            if not any(self.env.get(v) for v in NO_DURATIONS):
                self.save_durations(k)

    def main(self, kernels, runner, stdout=sys.stdout):
        """The whole run over kernels; 1 when anything failed."""
        # Results of an earlier run must not stand in for a guest that
        # died.
        for k in kernels:
            shutil.rmtree(self.kdir(k), ignore_errors=True)
            os.makedirs(self.kdir(k), exist_ok=True)
            write_lines(self.kdir(k, 'timings'), [])
        print(f'== {self.lanes} lanes; kernels ready in the order '
              f'{" ".join(self.prep_order(kernels))}', file=stdout,
              flush=True)
        t_all = self.clock()
        self.schedule(kernels, runner)
        self.judge(kernels)
        text, failed = summary(self.out, kernels, self.lanes,
                               int(self.clock() - t_all),
                               self.env.get('ONLY', ''),
                               self.env.get('REPEAT', ''))
        stdout.write(text)
        stdout.flush()
        return 1 if failed else 0


def summary(out, kernels, lanes, wall, only='', repeat=''):
    """The report of a run: (text, failed test count).

    Each kernel's judge.out, the counts by kernel and section, the stage
    timings, the failures (last: all a CI log may keep) and the totals.
    A kernel without judge.counts gets one failure (its lane or judge
    died), written to its judge.counts.
    """
    text = []
    counts = []
    totals = [0, 0, 0]
    failures = []
    any_failures = False
    for k in kernels:
        d = os.path.join(out, k)
        text.append(f'== kernel {k}\n')
        text.append(read_text(os.path.join(d, 'judge.out')))
        if not nonempty(os.path.join(d, 'judge.counts')):
            text.append(f'  {k}: not ok {k}/judge # no judgement (the lane '
                        'or the judge died)\n')
            write_lines(os.path.join(d, 'judge.counts'), ['judge 0 1 0'])
        for line in read_lines(os.path.join(d, 'judge.counts')):
            stage, *pfs = line.split(None, 3) or ['']
            p, f, s = (integer(n) for n in (pfs + ['', '', ''])[:3])
            totals = [totals[0] + p, totals[1] + f, totals[2] + s]
            counts.append(f'{k:<5} {stage:<10} {p:3d} passed, {f} failed, '
                          f'{s} skipped\n')
        if nonempty(os.path.join(d, 'judge.failures')):
            any_failures = True
            failures += [line for line in
                         read_lines(os.path.join(d, 'judge.failures')) if line]
    text.append('== summary by kernel and section\n')
    text += counts
    text.append(f'== stage timings (s), {lanes} lanes\n')
    timings = sorted(line for k in kernels
                     for line in read_lines(os.path.join(out, k, 'timings')))
    for line in timings + [f'wall {wall}']:
        stage, secs = (line.split(None, 1) + ['', ''])[:2]
        text.append(f'  {stage:<14} {integer(secs):5d}\n')
    if only:
        text.append(f"note: plan filtered by ONLY='{only}'\n")
    if (repeat or '1') != '1':
        text.append(f'note: each test repeated REPEAT={repeat} times\n')
    if any_failures:
        text.append('== failures\n')
        text += [line + '\n' for line in failures]
    text.append(f'{totals[0]} passed, {totals[1]} failed, '
                f'{totals[2]} skipped\n')
    return ''.join(text), totals[1]


def main(argv):
    """check.py [kernel...], or its self-test."""
    if len(argv) >= 2 and argv[1] == '--self-test':
        import check_test
        return check_test.main(argv[1:])
    sys.stdout.reconfigure(line_buffering=True)
    try:
        check = Check(os.environ)
    except ValueError as e:
        print(f'check: {e}', file=sys.stderr)
        return 2
    kernels = ' '.join(argv[1:]).split() or check.all_kernels
    for k in kernels:
        if k not in check.matrix:
            print(f"unknown kernel '{k}' (have: "
                  f"{' '.join(check.all_kernels)})")
            return 1
    try:
        return check.main(kernels, ThreadRunner())
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main(sys.argv))
