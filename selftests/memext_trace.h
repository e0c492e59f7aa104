/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's trace events (events/kvm_memext/ in tracefs), read by a
 * test in a trace instance of its own.
 */
#ifndef SELFTEST_MEMEXT_TRACE_H
#define SELFTEST_MEMEXT_TRACE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "memext_util.h"

/* The test's trace instance. */
static char memext_tracefs[128];

/* Find tracefs, mounting it if nobody did, and name instance @name. */
static inline void memext_trace_open(const char *name)
{
	static const char * const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/events/kvm_memext", dirs[i]);
		if (!access(path, F_OK)) {
			snprintf(memext_tracefs, sizeof(memext_tracefs),
				 "%s/instances/%s", dirs[i], name);
			return;
		}
	}
	__TEST_REQUIRE(!mount("nodev", dirs[0], "tracefs", 0, NULL),
		       "no tracefs");
	snprintf(path, sizeof(path), "%s/events/kvm_memext", dirs[0]);
	__TEST_REQUIRE(!access(path, F_OK), "no kvm_memext trace events");
	snprintf(memext_tracefs, sizeof(memext_tracefs), "%s/instances/%s",
		 dirs[0], name);
}

static inline void memext_trace_write(const char *file, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", memext_tracefs, file);
	memext_write_file(path, val);
}

/* Drop the instance's events so far (an open for writing that truncates). */
static inline void memext_trace_clear(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/trace", memext_tracefs);
	fd = open(path, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0, "%s: %s", path, strerror(errno));
	close(fd);
}

/* The instance's events, one line each, after the header's comments. */
static inline char *memext_trace_read(void)
{
	char path[256];
	size_t size = 1 << 20, len = 0;
	char *buf = malloc(size);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/trace", memext_tracefs);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0 && buf, "%s: %s", path, strerror(errno));
	while ((n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return buf;
}

/*
 * The first line after @from holding event @event and every string of
 * @fields (NULL-terminated); returns the position after it, or NULL if
 * there is none.
 */
static inline const char *memext_find_event(const char *from, const char *event,
					    const char * const *fields)
{
	char key[96];
	const char *line = from, *end;
	unsigned int i;
	bool all;

	snprintf(key, sizeof(key), " %s: ", event);
	while ((line = strstr(line, key))) {
		/* Not strchrnul(): 6.1's library builds without _GNU_SOURCE. */
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		for (all = true, i = 0; fields && fields[i]; i++) {
			const char *f = strstr(line, fields[i]);

			all &= f && f < end;
		}
		if (all)
			return end;
		line = end;
	}
	return NULL;
}

/* memext_find_event(), failing the test (with the trace) if there is none. */
static inline const char *memext_expect_event(const char *from, const char *event,
					      const char * const *fields,
					      const char *trace)
{
	const char *end = memext_find_event(from, event, fields);

	TEST_ASSERT(end, "no %s event%s%s after offset %zu; the trace:\n%s", event,
		    fields ? " with " : "", fields ? fields[0] : "",
		    (size_t)(from - trace), trace);
	return end;
}

#endif /* SELFTEST_MEMEXT_TRACE_H */
