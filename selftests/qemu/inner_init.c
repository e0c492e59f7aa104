// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the guest that an unmodified QEMU runs inside the test guest
 * (scripts/guest-qemu.sh), with its RAM in a kvm_memext file.
 *
 * Writes a pattern over most of its RAM and reports its checksum on the
 * serial port, waits for a byte from the host (which meanwhile checks that
 * the pages are out of its direct map), checks the pattern again, reports,
 * and resets the machine (QEMU runs with -no-reboot: it exits).  Lines
 * start with "KVM_MEMEXT_INNER" for the host to find.  It reports its
 * clocksource and how much CLOCK_MONOTONIC advanced while it wrote the
 * pattern: a kvm-clock page that KVM never wrote stands still.
 *
 * Where no host answers on the serial port (libvirt's file console, in
 * scripts/guest-system.sh), "inner_nowait" on the kernel command line
 * makes it check again after 3 seconds instead, and "inner_hold" makes it
 * wait for its end (virsh destroy) instead of resetting.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SPARE	(24UL << 20)	/* left to the kernel and this program */

static int tty = 2;

static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(tty, buf, n) != n)
		_exit(1);
}

static void off(void)
{
	sync();
	/* With -no-reboot a reset ends QEMU; it needs no ACPI. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

/* A "Name: N kB" line of /proc/meminfo, in bytes. */
static unsigned long mem_field(const char *name)
{
	char line[128];
	unsigned long kb = 0;
	size_t len = strlen(name);
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':')
			kb = strtoul(line + len + 1, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb << 10;
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/* Whether the kernel command line holds the word @opt. */
static int has_option(const char *opt)
{
	char line[1024], *tok, *save;

	read_line("/proc/cmdline", line, sizeof(line));
	for (tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (!strcmp(tok, opt))
			return 1;
	}
	return 0;
}

static uint64_t word(uint64_t i)
{
	i ^= i >> 33;
	i *= 0xff51afd7ed558ccdULL;
	return i ^ (i >> 29);
}

/* Sum of the words, and how many differ from the pattern. */
static uint64_t check(const uint64_t *p, size_t n, size_t *bad)
{
	uint64_t sum = 0;
	size_t i;

	*bad = 0;
	for (i = 0; i < n; i++) {
		sum += p[i];
		*bad += p[i] != word(i);
	}
	return sum;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(void)
{
	char up[64], clock[64], c;
	uint64_t t0;
	struct termios t;
	size_t n, i, bad;
	uint64_t *p, sum;
	unsigned long avail;

	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	tty = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
	if (tty < 0)
		off();
	if (!tcgetattr(tty, &t)) {
		cfmakeraw(&t);
		tcsetattr(tty, TCSANOW, &t);
	}

	read_line("/proc/uptime", up, sizeof(up));
	read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  clock, sizeof(clock));
	avail = mem_field("MemAvailable");
	say("KVM_MEMEXT_INNER booted uptime=%s clocksource=%s memtotal=%lu available=%lu\n",
	    strtok(up, " "), clock, mem_field("MemTotal"), avail);
	if (avail < 2 * SPARE) {
		say("KVM_MEMEXT_INNER error: too little memory\n");
		off();
	}
	n = (avail - SPARE) / sizeof(*p);
	p = mmap(NULL, n * sizeof(*p), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		say("KVM_MEMEXT_INNER error: mmap\n");
		off();
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		p[i] = word(i);
	sum = check(p, n, &bad);
	say("KVM_MEMEXT_INNER ready bytes=%zu sum=%016llx bad=%zu elapsed_us=%llu\n",
	    n * sizeof(*p), (unsigned long long)sum, bad,
	    (unsigned long long)(now_ns() - t0) / 1000);

	/* The host looks at its side now; any byte means go on. */
	if (has_option("inner_nowait"))
		sleep(3);
	else if (read(tty, &c, 1) != 1)
		say("KVM_MEMEXT_INNER error: no reply from the host\n");
	sum = check(p, n, &bad);
	say("KVM_MEMEXT_INNER verified bytes=%zu sum=%016llx bad=%zu\n",
	    n * sizeof(*p), (unsigned long long)sum, bad);
	while (has_option("inner_hold"))
		pause();
	off();
	return 0;
}
