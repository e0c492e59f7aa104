// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_memext_stat - show the statistics of kvm_memext's VM handles
 *
 * The module keeps one debugfs directory per VM handle, named "<pid>-<fd>"
 * as KVM's own, with one text file per statistic: a scalar is one unsigned
 * decimal, a histogram its buckets separated by spaces.  This tool reads
 * whatever files are there (it knows no statistic by name, so it needs no
 * update when the module adds one) and shows totals and rates, live as
 * kvm_stat(1) does, or as lines for scripts with -b.
 *
 * Only libc, so that it can be linked statically for minimal hosts.
 * See man/kvm_memext_stat.1.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef KVM_MEMEXT_VERSION
#define KVM_MEMEXT_VERSION "unknown"
#endif

#define PROG		"kvm_memext_stat"
#define DEFAULT_ROOT	"/sys/kernel/debug/kvm_memext"

/*
 * The largest statistic file read: a histogram of 32 buckets is at most
 * 32 * 21 bytes; anything far larger is not a statistic.
 */
#define MAX_FILE_SIZE	(64 * 1024)

/* Longest accepted interval, so that it always fits a struct timespec. */
#define MAX_DELAY	1e6

enum sort_key { SORT_NAME, SORT_VALUE, SORT_RATE };

static struct {
	const char *root;
	double delay;
	unsigned long count;	/* samples to show, 0: until quit */
	long pid;		/* only this process's handles, 0: all */
	regex_t fields;
	bool have_fields;
	enum sort_key sort;
	bool batch;
	bool list;
	bool hist;
} cfg = {
	.root = DEFAULT_ROOT,
	.delay = 3.0,
};

/* One statistic of one handle in one sample. */
struct stat_ent {
	char *name;
	uint64_t *val;		/* the value, or the buckets of a histogram */
	size_t nval;
	uint64_t sum;		/* what is shown: the sum of the buckets */
	const struct stat_ent *prev;	/* in the previous sample, or NULL */
};

/* One handle directory in one sample. */
struct handle {
	char name[NAME_MAX + 1];
	long pid;
	long fd;
	/* Tells a reused "<pid>-<fd>" from the handle that had it before. */
	dev_t dev;
	ino_t ino;
	struct stat_ent *stats;	/* sorted by name */
	size_t nstats;
};

struct sample {
	struct handle *handles;	/* sorted by pid, then fd */
	size_t nhandles;
	struct timespec when;
	double elapsed;		/* seconds since the previous sample, or 0 */
};

/* A line of output: one statistic of one handle or summed over several. */
struct row {
	const char *name;
	uint64_t total;
	double rate;
	bool has_rate;		/* false on a first sample */
	size_t nbuckets;	/* 0 for a scalar */
	uint64_t *buckets;
	double *brates;
};

/* Set by the handler: volatile sig_atomic_t is what C allows there. */
static volatile sig_atomic_t quit_signal;
static struct termios saved_tty;
static bool tty_changed;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-b] [-H] [-d SECONDS] [-n COUNT] [-p PID] [-f REGEX]\n"
		"                       [-s name|value|rate] [-r DIR]\n"
		"       " PROG " -l [-p PID] [-r DIR]\n"
		"Show the statistics of kvm_memext's VM handles, from debugfs (root only).\n"
		"\n"
		"  -b, --batch            print samples as lines, without screen control\n"
		"  -d, --delay=SECONDS    interval between samples (default 3)\n"
		"  -n, --count=COUNT      number of samples (default: 1 with -b, else until q)\n"
		"  -l, --list             list the handles with their process name and exit\n"
		"  -p, --pid=PID          only the handles of process PID\n"
		"  -f, --fields=REGEX     only statistics whose name matches REGEX (extended)\n"
		"  -s, --sort=KEY         sort statistics by name (default), value or rate\n"
		"  -H, --histograms       also show each bucket of a histogram\n"
		"  -r, --debugfs=DIR      read DIR instead of " DEFAULT_ROOT "\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n");
}

static void restore_tty(void)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	tty_changed = false;
}

/* Fatal errors restore the terminal first, or the message would be lost. */
static _Noreturn void out_of_memory(void)
{
	restore_tty();
	fprintf(stderr, PROG ": out of memory\n");
	exit(1);
}

static void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory();
	/* realloc(p, 0) may free p and return NULL. */
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		out_of_memory();
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		out_of_memory();
	return p;
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) +
	       (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static void ts_add(struct timespec *t, double secs)
{
	time_t whole = (time_t)secs;

	t->tv_sec += whole;
	t->tv_nsec += (long)((secs - (double)whole) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* A whole decimal in [min, max], nothing else. */
static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "<pid>-<fd>", as KVM names its own; anything else is not a handle. */
static bool parse_handle_name(const char *name, long *pid, long *fd)
{
	const char *dash = strchr(name, '-');
	char buf[32];
	size_t len;

	if (!dash)
		return false;
	len = dash - name;
	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return parse_long(buf, 1, INT_MAX, pid) &&
	       parse_long(dash + 1, 0, INT_MAX, fd);
}

/*
 * The numbers of a statistic file: unsigned decimals separated by blanks,
 * then a newline.  Return: their count, 0 if the file is not of that form.
 */
static size_t parse_values(const char *buf, uint64_t **vals)
{
	const char *p;
	size_t n = 0, i;
	char *end;

	for (p = buf; *p; ) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || !*p)
			break;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
		n++;
	}
	if (*p == '\n')
		p++;
	if (!n || *p)
		return 0;

	*vals = xreallocarray(NULL, n, sizeof(**vals));
	for (p = buf, i = 0; i < n; i++) {
		errno = 0;
		(*vals)[i] = strtoull(p, &end, 10);
		if (errno) {
			free(*vals);
			return 0;
		}
		p = end;
	}
	return n;
}

/* A file or directory that disappeared with its handle: not an error. */
static bool vanished(int err)
{
	/* debugfs fails reads of a removed file with EIO. */
	return err == ENOENT || err == ENODEV || err == EIO;
}

/*
 * read_stat() - read one statistic file of a handle directory
 * @dfd: the handle directory
 * @handle: its name, for messages
 * @name: the file's name
 * @e: filled in
 *
 * Return: true with @e filled, false if the file is gone or no statistic.
 */
static bool read_stat(int dfd, const char *handle, const char *name,
		      struct stat_ent *e)
{
	static char buf[MAX_FILE_SIZE + 1];
	size_t len = 0, i;
	int fd, err = 0;
	ssize_t r;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	/* To the end: nothing promises the whole file in one read(). */
	while (len < MAX_FILE_SIZE) {
		r = read(fd, buf + len, MAX_FILE_SIZE - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = errno;
		if (r <= 0)
			break;
		len += r;
	}
	close(fd);
	if (err)
		goto fail;
	if (len >= MAX_FILE_SIZE)
		return false;
	buf[len] = '\0';

	e->nval = parse_values(buf, &e->val);
	if (!e->nval)
		return false;
	e->sum = 0;
	for (i = 0; i < e->nval; i++)
		e->sum += e->val[i];
	e->name = xstrdup(name);
	e->prev = NULL;
	return true;
fail:
	/* Nor is a directory (EISDIR) or a symbolic link (ELOOP). */
	if (!vanished(err) && err != EISDIR && err != ELOOP)
		fprintf(stderr, PROG ": %s/%s/%s: %s\n", cfg.root, handle,
			name, strerror(err));
	return false;
}

static int stat_cmp_name(const void *a, const void *b)
{
	const struct stat_ent *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Read the statistics of handle directory @fd (consumed) into @h. */
static void read_handle(int fd, struct handle *h)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		struct stat_ent e;

		if (de->d_name[0] == '.')
			continue;
		if (cfg.have_fields &&
		    regexec(&cfg.fields, de->d_name, 0, NULL, 0))
			continue;
		if (!read_stat(dirfd(dir), h->name, de->d_name, &e))
			continue;
		if (h->nstats == cap) {
			cap = cap ? 2 * cap : 32;
			h->stats = xreallocarray(h->stats, cap,
						 sizeof(*h->stats));
		}
		h->stats[h->nstats++] = e;
	}
	closedir(dir);
	qsort(h->stats, h->nstats, sizeof(*h->stats), stat_cmp_name);
}

static int handle_cmp(const void *a, const void *b)
{
	const struct handle *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->fd != y->fd)
		return x->fd < y->fd ? -1 : 1;
	return 0;
}

static void sample_free(struct sample *s)
{
	size_t i, j;

	for (i = 0; i < s->nhandles; i++) {
		for (j = 0; j < s->handles[i].nstats; j++) {
			free(s->handles[i].stats[j].name);
			free(s->handles[i].stats[j].val);
		}
		free(s->handles[i].stats);
	}
	free(s->handles);
	memset(s, 0, sizeof(*s));
}

/* Link each statistic of @s to its value in @prev, for the rates. */
static void sample_link(struct sample *s, const struct sample *prev)
{
	size_t i, j;

	s->elapsed = ts_diff(&s->when, &prev->when);
	for (i = 0; i < s->nhandles; i++) {
		struct handle *h = &s->handles[i];
		const struct handle *ph;

		ph = bsearch(h, prev->handles, prev->nhandles,
			     sizeof(*h), handle_cmp);
		if (!ph || ph->dev != h->dev || ph->ino != h->ino)
			continue;
		for (j = 0; j < h->nstats; j++)
			h->stats[j].prev = bsearch(&h->stats[j], ph->stats,
						   ph->nstats,
						   sizeof(*ph->stats),
						   stat_cmp_name);
	}
}

static _Noreturn void root_error(int err)
{
	restore_tty();
	fprintf(stderr,
		PROG ": %s: %s; is debugfs mounted and kvm_memext loaded? (root only)\n",
		cfg.root, strerror(err));
	exit(1);
}

/*
 * sample_read() - read the selected handles into @s
 * @s: the sample
 * @stats: with their statistics, not just their names
 * @due: when the sample was due, or NULL
 *
 * The sample is dated when it was due, so that a rate is the change over
 * the interval, as asked, rather than over the interval and a wake-up
 * latency; but when it is late by more than 5% of the interval (the tool
 * was not scheduled, or reading took longer than the interval), the rate
 * is over the time that did pass.  Exits if the debugfs directory is
 * missing.
 */
static void sample_read(struct sample *s, bool stats,
			const struct timespec *due)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	memset(s, 0, sizeof(*s));
	dir = opendir(cfg.root);
	if (!dir)
		root_error(errno);
	clock_gettime(CLOCK_MONOTONIC, &s->when);
	if (due && ts_diff(&s->when, due) <= cfg.delay / 20)
		s->when = *due;
	for (;;) {
		struct handle *h;
		struct stat st;
		long pid, fdno;
		int fd;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno)
				root_error(errno);
			break;
		}
		if (!parse_handle_name(de->d_name, &pid, &fdno))
			continue;
		if (cfg.pid && pid != cfg.pid)
			continue;
		fd = openat(dirfd(dir), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			/* Closed since readdir(), or a file of that name. */
			if (!vanished(errno) && errno != ENOTDIR)
				fprintf(stderr, PROG ": %s/%s: %s\n", cfg.root,
					de->d_name, strerror(errno));
			continue;
		}
		if (fstat(fd, &st)) {
			close(fd);
			continue;
		}
		if (s->nhandles == cap) {
			cap = cap ? 2 * cap : 16;
			s->handles = xreallocarray(s->handles, cap,
						   sizeof(*s->handles));
		}
		h = &s->handles[s->nhandles++];
		memset(h, 0, sizeof(*h));
		snprintf(h->name, sizeof(h->name), "%s", de->d_name);
		h->pid = pid;
		h->fd = fdno;
		h->dev = st.st_dev;
		h->ino = st.st_ino;
		if (stats)
			read_handle(fd, h);
		else
			close(fd);
	}
	closedir(dir);
	qsort(s->handles, s->nhandles, sizeof(*s->handles), handle_cmp);
}

/* Signed, so that a value that went down (pages freed) shows so. */
static double rate_of(uint64_t cur, uint64_t old, double secs)
{
	return (double)(int64_t)(cur - old) / secs;
}

static int row_ptr_cmp_name(const void *a, const void *b)
{
	const struct stat_ent *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Add statistic @e of one handle to @r. */
static void row_add(struct row *r, const struct stat_ent *e, double elapsed)
{
	bool linked = e->prev && elapsed > 0;
	size_t i;

	r->total += e->sum;
	if (linked) {
		r->rate += rate_of(e->sum, e->prev->sum, elapsed);
		r->has_rate = true;
	}
	if (e->nval < 2)
		return;
	if (e->nval > r->nbuckets) {
		r->buckets = xreallocarray(r->buckets, e->nval,
					   sizeof(*r->buckets));
		r->brates = xreallocarray(r->brates, e->nval,
					  sizeof(*r->brates));
		for (i = r->nbuckets; i < e->nval; i++) {
			r->buckets[i] = 0;
			r->brates[i] = 0;
		}
		r->nbuckets = e->nval;
	}
	for (i = 0; i < e->nval; i++) {
		r->buckets[i] += e->val[i];
		if (linked && e->prev->nval == e->nval)
			r->brates[i] += rate_of(e->val[i], e->prev->val[i],
						elapsed);
	}
}

/*
 * rows_build() - the statistics of @nh handles, summed by name
 * Return: the rows, sorted by name, their count in @nrows.
 */
static struct row *rows_build(const struct handle *h, size_t nh,
			      double elapsed, size_t *nrows)
{
	const struct stat_ent **ents;
	struct row *rows;
	size_t n = 0, i, j;

	for (i = 0; i < nh; i++)
		n += h[i].nstats;
	ents = xcalloc(n, sizeof(*ents));
	rows = xcalloc(n, sizeof(*rows));
	for (i = 0, n = 0; i < nh; i++)
		for (j = 0; j < h[i].nstats; j++)
			ents[n++] = &h[i].stats[j];
	qsort(ents, n, sizeof(*ents), row_ptr_cmp_name);

	*nrows = 0;
	for (i = 0; i < n; i++) {
		struct row *r;

		if (!i || strcmp(ents[i]->name, ents[i - 1]->name))
			rows[(*nrows)++].name = ents[i]->name;
		r = &rows[*nrows - 1];
		row_add(r, ents[i], elapsed);
	}
	free(ents);
	return rows;
}

static void rows_free(struct row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rows[i].buckets);
		free(rows[i].brates);
	}
	free(rows);
}

/* Descending for value and rate: the busiest statistic first. */
static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	switch (cfg.sort) {
	case SORT_VALUE:
		if (x->total != y->total)
			return x->total > y->total ? -1 : 1;
		break;
	case SORT_RATE:
		if (x->rate > y->rate)
			return -1;
		if (x->rate < y->rate)
			return 1;
		break;
	case SORT_NAME:
		break;
	}
	return strcmp(x->name, y->name);
}

/* One digit after the point, and no "-0.0" for a tiny decrease. */
static double rate_shown(double r)
{
	return r > -0.05 && r < 0.05 ? 0.0 : r;
}

static void print_batch(const struct sample *s)
{
	size_t i, j, k, nrows;

	for (i = 0; i < s->nhandles; i++) {
		const struct handle *h = &s->handles[i];
		struct row *rows = rows_build(h, 1, s->elapsed, &nrows);

		qsort(rows, nrows, sizeof(*rows), row_cmp);
		for (j = 0; j < nrows; j++) {
			const struct row *r = &rows[j];

			printf("%s %s %" PRIu64 " %.1f\n", h->name, r->name,
			       r->total, rate_shown(r->rate));
			if (!cfg.hist)
				continue;
			for (k = 0; k < r->nbuckets; k++)
				printf("%s %s[%zu] %" PRIu64 " %.1f\n",
				       h->name, r->name, k, r->buckets[k],
				       rate_shown(r->brates[k]));
		}
		rows_free(rows, nrows);
	}
	putchar('\n');
}

/* Screen lines available, 0 if unknown. */
static unsigned int screen_lines(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row)
		return 0;
	return ws.ws_row;
}

/*
 * Redraw in place rather than clear the whole screen first, which would
 * flicker: home the cursor, clear each line's end, then the rest.
 */
static void print_live(const struct sample *s)
{
	unsigned int lines = screen_lines(), used = 3;
	size_t i, k, nrows, width = strlen("Statistic");
	char when[64], name[NAME_MAX + 32];
	struct row *rows;
	struct tm tm;
	time_t now;

	rows = rows_build(s->handles, s->nhandles, s->elapsed, &nrows);
	qsort(rows, nrows, sizeof(*rows), row_cmp);
	for (i = 0; i < nrows; i++) {
		size_t len = strlen(rows[i].name);

		/* Room for "[31]" after a histogram's name. */
		if (cfg.hist && rows[i].nbuckets)
			len += 2 + snprintf(NULL, 0, "%zu",
					    rows[i].nbuckets - 1);
		if (len > width)
			width = len;
	}

	now = time(NULL);
	if (!localtime_r(&now, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	printf("\033[H" PROG "  %s  handles: %zu  interval: %gs\033[K\n"
	       "\033[K\n", when, s->nhandles, cfg.delay);
	printf("%-*s %20s %12s\033[K\n", (int)width, "Statistic", "Total",
	       "Rate/s");

	/* Stop a line short of the bottom, or the screen would scroll. */
	for (i = 0; i < nrows && (!lines || used < lines - 1); i++) {
		const struct row *r = &rows[i];

		if (r->has_rate)
			printf("%-*s %20" PRIu64 " %12.1f\033[K\n", (int)width,
			       r->name, r->total, rate_shown(r->rate));
		else
			printf("%-*s %20" PRIu64 " %12s\033[K\n", (int)width,
			       r->name, r->total, "");
		used++;
		if (!cfg.hist)
			continue;
		for (k = 0; k < r->nbuckets; k++, used++) {
			if (lines && used >= lines - 1)
				break;
			snprintf(name, sizeof(name), "%s[%zu]", r->name, k);
			if (r->has_rate)
				printf("%-*s %20" PRIu64 " %12.1f\033[K\n",
				       (int)width, name, r->buckets[k],
				       rate_shown(r->brates[k]));
			else
				printf("%-*s %20" PRIu64 " %12s\033[K\n",
				       (int)width, name, r->buckets[k], "");
		}
	}
	printf("\033[J");
	fflush(stdout);
	rows_free(rows, nrows);
}

static void print_list(const struct sample *s)
{
	char path[64], comm[64];
	size_t i;
	FILE *f;

	for (i = 0; i < s->nhandles; i++) {
		const struct handle *h = &s->handles[i];

		/* The process may have exited, or be in another pid namespace. */
		snprintf(path, sizeof(path), "/proc/%ld/comm", h->pid);
		comm[0] = '\0';
		f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = '\0';
		printf("%s %s\n", h->name, comm[0] ? comm : "?");
	}
}

/* The next sample is due at @deadline; advance it, never into the past. */
static void next_deadline(struct timespec *deadline)
{
	struct timespec now;

	ts_add(deadline, cfg.delay);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_cmp(deadline, &now) < 0)
		*deadline = now;
}

static int flush_stdout(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		restore_tty();
		fprintf(stderr, PROG ": standard output: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

static int run_batch(void)
{
	struct sample prev = { 0 }, cur;
	struct timespec deadline;
	unsigned long i;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	for (i = 0; i < cfg.count; i++) {
		if (i) {
			next_deadline(&deadline);
			do {
				err = clock_nanosleep(CLOCK_MONOTONIC,
						      TIMER_ABSTIME,
						      &deadline, NULL);
			} while (err == EINTR);
		}
		sample_read(&cur, true, &deadline);
		if (i)
			sample_link(&cur, &prev);
		print_batch(&cur);
		sample_free(&prev);
		prev = cur;
		if (flush_stdout())
			return 1;
	}
	sample_free(&prev);
	return 0;
}

static void on_signal(int sig)
{
	quit_signal = sig;
}

/*
 * Wait until @deadline for 'q' on a terminal or a signal.  The signals are
 * blocked except while waiting, so that none is lost between a check and
 * the wait.  Return: true to quit.
 */
static bool wait_live(const struct timespec *deadline, const sigset_t *mask)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec now, left;
	double secs;
	char c;

	for (;;) {
		if (quit_signal)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = ts_diff(deadline, &now);
		if (secs <= 0)
			return false;
		left.tv_sec = 0;
		left.tv_nsec = 0;
		ts_add(&left, secs);
		if (ppoll(&pfd, tty_changed ? 1 : 0, &left, mask) <= 0)
			continue;
		if (read(STDIN_FILENO, &c, 1) != 1)
			pfd.fd = -1;	/* ppoll() ignores it from now on */
		else if (c == 'q' || c == 'Q')
			return true;
	}
}

/* Unless ignored, as by a shell for a background job. */
static void catch_signal(int sig)
{
	struct sigaction sa = { .sa_handler = on_signal }, old;

	if (!sigaction(sig, NULL, &old) && old.sa_handler != SIG_IGN)
		sigaction(sig, &sa, NULL);
}

static int run_live(void)
{
	struct sample prev = { 0 }, cur;
	struct timespec deadline;
	sigset_t block, old;
	unsigned long i;
	int ret = 0;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	catch_signal(SIGINT);
	catch_signal(SIGTERM);

	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved_tty)) {
		struct termios raw = saved_tty;

		/* Keys without Enter and unechoed; ISIG keeps Ctrl-C. */
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (!tcsetattr(STDIN_FILENO, TCSANOW, &raw))
			tty_changed = true;
	}
	atexit(restore_tty);

	/* A screen in one write() rather than line by line. */
	setvbuf(stdout, NULL, _IOFBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	printf("\033[H\033[2J");
	for (i = 0; !cfg.count || i < cfg.count; i++) {
		if (i) {
			next_deadline(&deadline);
			if (wait_live(&deadline, &old))
				break;
		}
		sample_read(&cur, true, &deadline);
		if (i)
			sample_link(&cur, &prev);
		print_live(&cur);
		sample_free(&prev);
		prev = cur;
		if (flush_stdout()) {
			ret = 1;
			break;
		}
	}
	sample_free(&prev);
	restore_tty();

	/* Die of the signal, as the caller expects, now that it is safe. */
	if (quit_signal) {
		signal(quit_signal, SIG_DFL);
		raise(quit_signal);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	return ret;
}

/* Exit status 2: the command line is wrong.  @what may be NULL. */
static _Noreturn void bad_usage(const char *what, const char *arg)
{
	if (what)
		fprintf(stderr, PROG ": %s '%s'\n", what, arg);
	usage(stderr);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch",	no_argument,		NULL, 'b' },
		{ "count",	required_argument,	NULL, 'n' },
		{ "debugfs",	required_argument,	NULL, 'r' },
		{ "delay",	required_argument,	NULL, 'd' },
		{ "fields",	required_argument,	NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "histograms",	no_argument,		NULL, 'H' },
		{ "list",	no_argument,		NULL, 'l' },
		{ "pid",	required_argument,	NULL, 'p' },
		{ "sort",	required_argument,	NULL, 's' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	bool have_count = false;
	char errbuf[256];
	char *end;
	long v;
	int c, err;

	while ((c = getopt_long(argc, argv, "bd:f:Hhln:p:r:s:V", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			cfg.batch = true;
			break;
		case 'd':
			errno = 0;
			cfg.delay = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(cfg.delay > 0 && cfg.delay <= MAX_DELAY))
				bad_usage("invalid interval", optarg);
			break;
		case 'f':
			if (cfg.have_fields)
				regfree(&cfg.fields);
			err = regcomp(&cfg.fields, optarg,
				      REG_EXTENDED | REG_NOSUB);
			if (err) {
				regerror(err, &cfg.fields, errbuf,
					 sizeof(errbuf));
				fprintf(stderr, PROG ": '%s': %s\n", optarg,
					errbuf);
				bad_usage(NULL, NULL);
			}
			cfg.have_fields = true;
			break;
		case 'H':
			cfg.hist = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'l':
			cfg.list = true;
			break;
		case 'n':
			if (!parse_long(optarg, 1, LONG_MAX, &v))
				bad_usage("invalid count", optarg);
			cfg.count = v;
			have_count = true;
			break;
		case 'p':
			if (!parse_long(optarg, 1, INT_MAX, &cfg.pid))
				bad_usage("invalid process id", optarg);
			break;
		case 'r':
			cfg.root = optarg;
			break;
		case 's':
			if (!strcmp(optarg, "name"))
				cfg.sort = SORT_NAME;
			else if (!strcmp(optarg, "value"))
				cfg.sort = SORT_VALUE;
			else if (!strcmp(optarg, "rate"))
				cfg.sort = SORT_RATE;
			else
				bad_usage("invalid sort key", optarg);
			break;
		case 'V':
			printf(PROG " %s\n", KVM_MEMEXT_VERSION);
			exit(0);
		default:
			bad_usage(NULL, NULL);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument", argv[optind]);
	if (!have_count && cfg.batch)
		cfg.count = 1;
}

int main(int argc, char **argv)
{
	struct sample s;

	parse_args(argc, argv);
	if (cfg.list) {
		sample_read(&s, false, NULL);
		print_list(&s);
		sample_free(&s);
		return flush_stdout();
	}
	return cfg.batch ? run_batch() : run_live();
}
