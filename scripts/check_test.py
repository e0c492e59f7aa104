#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The self-test of check.py's scheduler.

Fake jobs that end at once, on the fixtures of scripts/tests/check/: the
plan filter, the shard count and packing, the merged durations, the lane
rules, failed preps, timed-out guests, the summary, and plan.sh on a fake
build tree.  No kernel is built and no guest boots.

Usage: check_test.py [fixtures dir]    (also: check.py --self-test)
"""
import heapq
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from check import *  # noqa: F401,F403 -- the scheduler under test


class FakeRunner:
    """Runs a job as it starts, and ends it after a simulated time: a
    boot's estimate, a prep's prep_secs[K] (default 1 s).  Records when
    each job started and ended, and the most jobs that ran at once.
    """

    def __init__(self, prep_secs=None):
        self.prep_secs = prep_secs or {}
        self.now = 0
        self.running = []   # a heap of (end, sequence, job, rc)
        self.events = []    # (time, 'start' or 'end', job name)
        self.most = 0

    def start(self, job):
        rc = job.run()
        secs = (job.est if job.kind == 'boot'
                else self.prep_secs.get(job.kernel, 1))
        heapq.heappush(self.running,
                       (self.now + secs, len(self.events), job, rc))
        self.events.append((self.now, 'start', job.name))
        self.most = max(self.most, len(self.running))

    def wait(self):
        self.now, _, job, rc = heapq.heappop(self.running)
        self.events.append((self.now, 'end', job.name))
        return job, rc

    def started(self, kind):
        """The names of the jobs of a kind, in the order they started."""
        return [name for _, what, name in self.events
                if what == 'start' and name.startswith(kind + ' ')]

    def when(self, what, name):
        return next(t for t, w, n in self.events if (w, n) == (what, name))


class FakeWorld:
    """The steps of the jobs, faked: what each script leaves behind.

    cached: the kernels in the cache; fail: the (script, K) that fail
    ("script" without ".sh"); hang: the (K, shard) whose guest times out.
    judge.py runs for real.  calls: (script, args, prefix, env) of each
    step, the prefix being "nice -n <n>" or nothing.
    """

    def __init__(self, fixtures, cached=(), fail=(), hang=(), secs=0):
        self.fixtures = fixtures
        self.cached = cached
        self.fail = fail
        self.hang = hang
        self.secs = secs    # how long a guest runs, for real threads
        self.calls = []
        self.guests = 0     # guests running now
        self.most = 0       # the most guests that ran at once
        self.lock = threading.Lock()

    def __call__(self, cmd, out=None, append=False, env=None,
                 merge_stderr=False):
        i = next(i for i, a in enumerate(cmd) if a.endswith(('.sh', '.py')))
        script, args = os.path.basename(cmd[i]), cmd[i + 1:]
        self.calls.append((script, args, cmd[:i], env or {}))
        if script == 'judge.py':    # this one, not the fake tree's
            return run_command([*cmd[:i], os.path.join(HERE, script), *args],
                               out, append, env)
        step = script[:-len('.sh')]
        text, rc = getattr(self, step.replace('-', '_'))(*args)
        if (step, args[0] if args else '') in self.fail:
            rc = 1
        if out:
            with open(out, 'a' if append else 'w') as f:
                f.write(text)
        return rc

    def called(self, script):
        return [(args, prefix, env) for s, args, prefix, env in self.calls
                if s == script]

    def check(self, option, k, *args):
        if option == '--cached':
            return '', 0 if k in self.cached else 1
        plan, sdir, timeout = args
        self.guest(sdir, read_lines(plan), timeout,
                   (k, os.path.basename(sdir)[len('shard-'):]) in self.hang)
        return '', 0

    def guest(self, sdir, plan, timeout, hang=False):
        """A guest's results.ktap and console.log for its plan."""
        with self.lock:
            self.guests += 1
            self.most = max(self.most, self.guests)
        time.sleep(self.secs)
        with self.lock:
            self.guests -= 1
        ktap = ['KTAP version 1']
        console = ['[    1.000000] Linux version fake']
        for i, line in enumerate(plan, 1):
            ktap.append(f'ok {i} {plan_key(line)} # time=1.5s')
            console += [f'[    2.000000] kvm_memext-runner: begin '
                        f'{plan_key(line)}',
                        f'[    3.000000] kvm_memext-runner: end '
                        f'{plan_key(line)} rc=0']
        if hang:
            ktap.append(f'# RUNNER TIMEOUT after {timeout}s')
            console.append('[   99.000000] last words of the guest')
        else:
            ktap += [f'1..{len(plan)}', '# KVM_MEMEXT_RUNNER_DONE']
        os.makedirs(sdir, exist_ok=True)
        write_lines(os.path.join(sdir, 'results.ktap'), ktap)
        write_lines(os.path.join(sdir, 'console.log'), console)

    def kernel(self, k):
        return '', 0

    def build_tests(self, k):
        return ('  CC [M]  src/main.o\n'
                + ('src/main.c:1:1: error: expected identifier\n'
                   if ('build-tests', k) in self.fail else '')), 0

    def dkms_check(self, k):
        return 'ok 1 host/dkms # time=20s\n', 0

    def deb_check(self):
        return 'ok 2 host/deb # time=10s\n', 0

    def plan(self, k):
        return read_text(os.path.join(self.fixtures, 'plan')), 0

    def system_check(self, k, sdir, timeout):
        self.guest(sdir, ['system apt_install', 'system purge'], timeout)
        write_lines(os.path.join(sdir, 'timings'),
                    [f'{k}:system-image 12', f'{k}:system 584'])
        return '', 0


def expect(got, want, what):
    if got != want:
        raise AssertionError(f'{what}: got {got!r}, want {want!r}')


def fake_check(fixtures, tmp, env=None, durations=(), prep_secs=None,
               **world):
    """A Check of the fixture matrix in tmp, its runner and its world.

    durations: the kernels that have the fixture durations in the cache.
    """
    os.makedirs(os.path.join(tmp, 'scripts'))
    shutil.copy(os.path.join(fixtures, 'kernels.conf'),
                os.path.join(tmp, 'scripts'))
    cache = os.path.join(tmp, 'cache')
    os.makedirs(cache)
    for k in durations:
        shutil.copy(os.path.join(fixtures, 'durations'),
                    os.path.join(cache, f'durations-{k}'))
    world.setdefault('cached', ('6.1', '6.12'))
    runner = FakeRunner(prep_secs)
    fake = FakeWorld(fixtures, **world)
    check = Check(dict(env or {}, KVM_MEMEXT_CACHE=cache), top=tmp,
                  run=fake, clock=lambda: runner.now, nproc=2,
                  log=lambda msg: None)
    return check, runner, fake


def fake_run(fixtures, tmp, kernels=('6.1', '6.12', '7.3'), threads=False,
             **kwargs):
    """A whole run with fakes: (Check, runner, world, exit status, stdout).

    threads: jobs in threads (ThreadRunner), as in a real run.
    """
    check, runner, world = fake_check(fixtures, tmp, **kwargs)
    if threads:
        runner = ThreadRunner()
        check.clock = time.monotonic
    out = io.StringIO()
    rc = check.main(list(kernels), runner, out)
    return check, runner, world, rc, out.getvalue()


def test_filter(fixtures, tmp):
    """ONLY and REPEAT: regex on "stage/name", comments kept, once."""
    plan = read_lines(os.path.join(fixtures, 'plan'))
    expect(PlanFilter('selftest/(kill|bind)').apply(plan),
           [plan[0], plan[2], plan[4]], 'ONLY')
    expect(PlanFilter('^peer/', '2').apply(plan),
           [plan[0]] + [plan[8]] * 2 + [plan[9]] * 2, 'ONLY, REPEAT=2')
    expect(PlanFilter('', '').apply(plan), plan, 'no filter')
    expect(PlanFilter('', '0').apply(plan), [plan[0]], 'REPEAT=0')
    expect([PlanFilter(only, repeat).keeps('host', 'dkms')
            for only, repeat in (('', ''), ('selftest/', ''),
                                 ('host/d', '3'), ('', '0'))],
           [True, False, True, False], 'the host stages kept')
    for only, repeat in (('(', ''), ('', 'x')):
        try:
            PlanFilter(only, repeat)
        except ValueError:
            continue
        raise AssertionError(f'ONLY={only!r} REPEAT={repeat!r} accepted')


def test_shard_count(fixtures, tmp):
    """About KVM_MEMEXT_SHARD_SECS of tests a shard, 1 test at least."""
    for ests, secs, want in (([30] * 10, 200, 2), ([30] * 10, 100, 3),
                             ([150] * 3, 200, 2), ([1] * 3, 200, 1),
                             ([500] * 2, 200, 2), ([], 200, 1)):
        expect(shard_count(ests, secs), want, f'{ests} by {secs} s')


def test_packing(fixtures, tmp):
    """Longest first to the lightest shard, plan order within a shard."""
    plan = read_lines(os.path.join(fixtures, 'plan'))
    est = load_durations(os.path.join(fixtures, 'durations'))
    shards = split_plan(plan, est, 200)
    expect([[plan_key(line) for line in lines] for lines, _ in shards],
           [['selftest/kill_test'],
            ['selftest/fuzz_test', 'qemu/default'],
            ['kunit/kvm_memext', 'selftest/bind_test', 'selftest/trinity',
             'sample/demo_vmm', 'peer/set_memory_region_test',
             'peer/set_memory_region_test.privmem']], 'shards')
    expect([int(load) for _, load in shards], [210, 180, 204], 'loads')
    expect(deal([5, 5, 5, 5], 2), ([0, 1, 0, 1], [10, 10]), 'ties')
    expect(deal([1, 9, 1, 9], 2)[0], [0, 0, 1, 1], 'longest first')
    expect(split_plan(plan[:1], est, 200), [([], 0.0)],
           'an empty plan: one empty shard')


def test_durations(fixtures, tmp):
    """Old durations updated by the times of the last run's KTAP."""
    expect(merge_durations(read_lines(os.path.join(fixtures, 'durations')),
                           read_lines(os.path.join(fixtures,
                                                   'results.ktap'))),
           read_lines(os.path.join(fixtures, 'durations.expected')),
           'merged')


def test_lanes(fixtures, tmp):
    """Lanes, build_nice and build_jobs from KVM_MEMEXT_JOBS and nproc."""
    for jobs, nproc, want in ((None, 2, (2, 10, 1)), ('', 4, (4, 10, 1)),
                              ('1', 2, (1, 0, 2)), ('0', 2, (1, 0, 2)),
                              ('x', 4, (1, 0, 4)), ('3', 2, (3, 10, 1))):
        expect(lane_rules(jobs, nproc), want, f'{jobs!r} on {nproc} CPUs')


def test_schedule(fixtures, tmp):
    """Debug kernel first; its cold build holds back every boot; boots
    longest first; never more jobs than lanes."""
    check, runner, world, rc, _ = fake_run(fixtures, tmp, durations=['6.1'],
                                           prep_secs={'7.3': 100})
    expect(rc, 0, 'exit status')
    expect(runner.started('prep'), ['prep 7.3', 'prep 6.1', 'prep 6.12'],
           'preps')
    expect(runner.started('boot'),
           ['boot 6.1 system', 'boot 6.12 system', 'boot 6.12 1',
            'boot 7.3 1', 'boot 6.1 1', 'boot 6.1 3', 'boot 6.1 2'], 'boots')
    expect(runner.when('start', 'boot 6.1 system'),
           runner.when('end', 'prep 7.3'), 'first boot')
    expect(runner.most, 2, 'jobs at once')
    expect(read_lines(check.kdir('6.1', 'shards')),
           ['210 1', '180 2', '204 3', '600 system'], '6.1 shards')
    expect([(args[0], prefix, env['KVM_MEMEXT_BUILD_JOBS'])
            for args, prefix, env in world.called('kernel.sh')],
           [('7.3', ['nice', '-n', '10'], '2'),
            ('6.1', ['nice', '-n', '10'], '1'),
            ('6.12', ['nice', '-n', '10'], '1')], 'kernel.sh')
    expect([env['KVM_MEMEXT_BUILD_JOBS']
            for _, _, env in world.called('build-tests.sh')],
           ['1'] * 3, 'build-tests.sh jobs')
    expect([args for args, _, _ in world.called('dkms-check.sh')],
           [['6.1'], ['6.12']], 'DKMS on the stock kernels')
    expect(read_lines(check.kdir('6.12', 'host.ktap')),
           ['ok 1 host/dkms # time=20s', 'ok 2 host/deb # time=10s'],
           'the packages on the default kernel only')


def test_schedule_cached(fixtures, tmp):
    """A debug kernel in the cache holds no boot back."""
    _, runner, world, rc, _ = fake_run(
        fixtures, tmp, prep_secs={'7.3': 100},
        cached=('6.1', '6.12', '7.3'))
    expect(runner.when('start', 'boot 6.1 system') < 100, True,
           'a boot beside the debug prep')
    expect(world.called('kernel.sh')[0][2], {'KVM_MEMEXT_BUILD_JOBS': '1'},
           'kernel.sh of a cached kernel')


def test_one_lane(fixtures, tmp):
    """One lane: one job at a time, builds not niced, with every CPU."""
    _, runner, world, rc, out = fake_run(
        fixtures, tmp, env={'KVM_MEMEXT_JOBS': '1'})
    expect(runner.most, 1, 'jobs at once')
    expect({(tuple(prefix), env.get('KVM_MEMEXT_BUILD_JOBS'))
            for _, prefix, env in world.called('build-tests.sh')},
           {(('nice', '-n', '0'), '2')}, 'build-tests.sh')
    expect(out.splitlines()[0],
           '== 1 lanes; kernels ready in the order 7.3 6.1 6.12', 'header')


def test_threads(fixtures, tmp):
    """Jobs in threads: every guest runs, never more than lanes at once."""
    check, _, world, rc, out = fake_run(fixtures, tmp, threads=True,
                                        durations=['6.1'], secs=0.02)
    expect(rc, 0, 'exit status')
    expect(sum(args[0] == '--boot' for args, _, _ in world.called('check.sh')),
           5, 'shards booted')
    expect(len(world.called('system-check.sh')), 2, 'system stages')
    expect(world.most <= 2, True, f'{world.most} guests at once')
    expect(out.splitlines()[-1], '37 passed, 0 failed, 0 skipped', 'totals')


def test_failed_prep(fixtures, tmp):
    """A failed step of a prep: its not-ok line and counts, no boot."""
    check, runner, world, rc, out = fake_run(
        fixtures, tmp,
        fail={('kernel', '6.1'), ('build-tests', '6.12'), ('plan', '7.3')})
    expect(rc, 1, 'exit status')
    expect(runner.started('boot'), [], 'boots')
    expect(world.called('judge.py'), [], 'judged')
    for k, stage, why, before in (
            ('6.1', 'kernel', 'could not fetch or build the kernel', []),
            ('6.12', 'build', 'module or tests failed to build',
             ['  CC [M]  src/main.o',
              'src/main.c:1:1: error: expected identifier']),
            ('7.3', 'plan', 'could not write the plan', [])):
        expect(read_lines(check.kdir(k, 'judge.out')),
               before + [f'  {k}: not ok {k}/{stage} # {why}'],
               f'{k} judge.out')
        expect(read_lines(check.kdir(k, 'judge.counts')),
               [f'{stage} 0 1 0'], f'{k} judge.counts')
    expect(out.splitlines()[-1], '0 passed, 3 failed, 0 skipped', 'totals')


def test_timeout(fixtures, tmp):
    """A guest that timed out: the runner fails, its console is shown."""
    check, _, _, rc, out = fake_run(fixtures, tmp, kernels=['7.3'],
                                    hang={('7.3', '1')})
    expect(rc, 1, 'exit status')
    expect(read_lines(check.kdir('7.3', 'judge.counts'))[-2:],
           ['runner 0 1 0', 'kernel-log 1 0 0'], 'judge.counts')
    for text in ('  7.3: not ok 7.3/runner # guest did not finish',
                 '== failures\n7.3: guest shard-1 did not finish',
                 '[   99.000000] last words of the guest\n'
                 '10 passed, 1 failed, 0 skipped\n'):
        expect(text in out, True, f'"{text}" in the output')


def test_summary(fixtures, tmp):
    """The summary of fixture results, to the byte; a kernel without
    judge.counts fails as not judged."""
    out = os.path.join(tmp, 'results')
    shutil.copytree(os.path.join(fixtures, 'summary'), out)
    text, failed = summary(out, ['6.1', '6.12', '7.3'], 2, 1234,
                           'selftest/(kill|bind)', '3')
    expect(text.splitlines(), read_lines(os.path.join(out, 'expected')),
           'summary')
    expect(failed, 2, 'failed')
    expect(read_lines(os.path.join(out, '7.3', 'judge.counts')),
           ['judge 0 1 0'], 'judge.counts written')


def test_run(fixtures, tmp):
    """A whole run's output, and the durations it saved."""
    check, _, _, rc, out = fake_run(fixtures, tmp, durations=['6.1'])
    expect(rc, 0, 'exit status')
    expect(out.splitlines(),
           read_lines(os.path.join(fixtures, 'run.expected')), 'output')
    expect(load_durations(os.path.join(check.cache, 'durations-6.1')),
           dict(load_durations(os.path.join(fixtures, 'durations')),
                **{plan_key(line): 1.5 for line in read_lines(
                    os.path.join(fixtures, 'plan'))[1:]},
                **{'system/apt_install': 1.5, 'system/purge': 1.5}),
           'durations-6.1')


def test_filtered_run(fixtures, tmp):
    """ONLY and REPEAT: no host or system stage unless kept, the notes,
    and no durations saved."""
    check, runner, world, rc, out = fake_run(
        fixtures, tmp, durations=['6.1'],
        env={'ONLY': 'selftest/(kill|bind)', 'REPEAT': '2'})
    expect(rc, 0, 'exit status')
    expect(world.called('dkms-check.sh') + world.called('deb-check.sh'), [],
           'host stages')
    expect(runner.started('boot'), ['boot 6.1 1', 'boot 6.1 2', 'boot 7.3 1',
                                    'boot 6.12 1'], 'boots')
    plan = read_lines(os.path.join(fixtures, 'plan'))
    expect(read_lines(check.kdir('6.1', 'plan')),
           [plan[0]] + [plan[2]] * 2 + [plan[4]] * 2, 'plan')
    expect(out.splitlines()[-3:],
           ["note: plan filtered by ONLY='selftest/(kill|bind)'",
            'note: each test repeated REPEAT=2 times',
            '15 passed, 0 failed, 0 skipped'], 'notes')
    expect(read_lines(os.path.join(check.cache, 'durations-6.1')),
           read_lines(os.path.join(fixtures, 'durations')), 'durations-6.1')
    expect(os.path.exists(os.path.join(check.cache, 'durations-6.12')),
           False, 'durations-6.12')


def test_plan_sh(fixtures, tmp):
    """plan.sh: a test of selftests/memext/ by its file name, the cases
    of the others, peer.conf, the campaign sizes, and what arm64 leaves
    out."""
    for name in ('plan.sh', 'lib.sh'):
        os.makedirs(os.path.join(tmp, 'scripts'), exist_ok=True)
        shutil.copy(os.path.join(HERE, name), os.path.join(tmp, 'scripts'))
    for name, to in (('kernels.conf', 'scripts'),
                     ('plan-sh/known-splats.txt', 'scripts'),
                     ('plan-sh/peer.conf', 'selftests')):
        os.makedirs(os.path.join(tmp, to), exist_ok=True)
        shutil.copy(os.path.join(fixtures, name), os.path.join(tmp, to))
    cache = os.path.join(tmp, 'cache')
    os.makedirs(cache)
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': tmp,
           'KVM_MEMEXT_CACHE': cache}
    campaign = {'KILLS': '5', 'SEED': '7', 'FUZZ_CALLS': '250000',
                'FUZZ_SEED': '10', 'TRINITY_SECS': '60', 'BATCH_CYCLES': '20'}
    for k, debug, arch, extra in (('6.12', 0, 'x86', {}),
                                  ('7.3', 1, 'x86', campaign),
                                  ('arm64-6.12', 0, 'arm64', {})):
        tests = os.path.join(tmp, 'build', k, 'tests')
        for name in ('api_test', 'bind_test', 'fuzz_test', 'kill_test',
                     'memslot_batch_test', 'privmem_test'):
            os.makedirs(os.path.join(tests, 'memext'), exist_ok=True)
            write_lines(os.path.join(tests, 'memext', name), [])
        for name in ('set_memory_region_test', 'kvm_page_table_test',
                     'xen_shinfo_test', 'dirty_log_test'):
            os.makedirs(os.path.join(tests, 'peer'), exist_ok=True)
            write_lines(os.path.join(tests, 'peer', name), [])
            os.chmod(os.path.join(tests, 'peer', name), 0o755)
        write_lines(os.path.join(cache, f'env-{k}.sh'),
                    [f'KDEBUG={debug}', f'KARCH={arch}'])
        run = subprocess.run(['bash', os.path.join(tmp, 'scripts', 'plan.sh'),
                              k], env=dict(env, **extra),
                             capture_output=True, text=True)
        expect((run.returncode, run.stderr), (0, ''), f'plan.sh {k}')
        expect([line.rstrip() for line in run.stdout.splitlines()],
               read_lines(os.path.join(fixtures, 'plan-sh', f'expected-{k}')),
               f'plan of {k}')
    run = subprocess.run(['bash', os.path.join(tmp, 'scripts', 'plan.sh'),
                          '6.1'], env=env, capture_output=True, text=True)
    expect(run.returncode != 0 and run.stdout == '', True,
           'plan.sh of a kernel not in the cache fails')


SELF_TESTS = (test_filter, test_shard_count, test_packing, test_durations,
              test_lanes, test_schedule, test_schedule_cached, test_one_lane,
              test_threads, test_failed_prep, test_timeout, test_summary,
              test_run, test_filtered_run, test_plan_sh)


def self_test(fixtures):
    """Run SELF_TESTS, each in a temporary directory; KTAP-like output."""
    bad = 0
    for i, test in enumerate(SELF_TESTS, 1):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                test(fixtures, tmp)
                problem = ''
            except AssertionError as e:
                problem = str(e)
            except Exception:
                problem = traceback.format_exc()
        name = test.__name__[len('test_'):].replace('_', '-')
        print(f'{"not ok" if problem else "ok"} {i} check/{name}')
        for line in problem.splitlines():
            print(f'    # {line}')
        bad += bool(problem)
    print(f'1..{len(SELF_TESTS)}')
    return 1 if bad else 0


def main(argv):
    """check_test.py [fixtures dir]"""
    return self_test(argv[1] if len(argv) > 1 else
                     os.path.join(HERE, 'tests', 'check'))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
