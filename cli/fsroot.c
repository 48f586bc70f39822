/* Path resolution beneath the root and directory listings. */
#include "fsroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int status_of(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		return -404;
	default: /* EXDEV (escapes the root), ELOOP, EACCES, ... */
		return -403;
	}
}

/* Kernels before 5.6 (no openat2): resolve, then check the prefix. */
static int open_checked(const char *root_real, const char *rel)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t rl = strlen(root_real);
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root_real, rel) >=
	    sizeof(path))
		return -404;
	if (!realpath(path, real))
		return status_of(errno);
	if (strncmp(real, root_real, rl) || (real[rl] && real[rl] != '/'))
		return -403;
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	return fd < 0 ? status_of(errno) : fd;
}

/*
 * Nothing that can block runs on the event loop: O_NONBLOCK makes opening a
 * FIFO without a writer (or a device) return at once, and the type is
 * checked on the open fd before any read. Regular files go back to blocking
 * mode (splice and sendfile read them like any file).
 */
static int check_type(int fd, struct stat *st)
{
	int fl;

	if (fstat(fd, st) < 0) {
		close(fd);
		return -403;
	}
	if (S_ISDIR(st->st_mode))
		return fd;
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -403; /* FIFOs, sockets, devices: never read */
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		close(fd);
		return -403;
	}
	return fd;
}

static int open_resolved(int root_fd, const char *root_real, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS)
		return open_checked(root_real, rel);
	return status_of(errno);
}

int fsroot_open(int root_fd, const char *root_real, const char *rel,
		struct stat *st)
{
	int fd = open_resolved(root_fd, root_real, rel);

	return fd < 0 ? fd : check_type(fd, st);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int fsroot_listing(int dir_fd, const char *url_path, struct http_buf *b)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int r = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		struct stat st;
		size_t len = strlen(e->d_name);
		char *name;

		if (e->d_name[0] == '.')
			continue; /* ".", "..", and hidden files */
		if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) *
							  sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		name = malloc(len + 2);
		if (!name)
			break;
		memcpy(name, e->d_name, len + 1);
		if (S_ISDIR(st.st_mode))
			strcpy(name + len, "/");
		names[n++] = name;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	r |= http_buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
	r |= http_buf_html(b, url_path);
	r |= http_buf_printf(b, "</title></head>\n<body><h1>Index of ");
	r |= http_buf_html(b, url_path);
	r |= http_buf_printf(b, "</h1>\n<ul>\n");
	if (strcmp(url_path, "/"))
		r |= http_buf_printf(b, "<li><a href=\"../\">../</a></li>\n");
	for (size_t i = 0; i < n; i++) {
		r |= http_buf_printf(b, "<li><a href=\"");
		/* "./" keeps a name such as "a:b" from reading as a scheme. */
		r |= http_buf_printf(b, "./");
		r |= http_buf_url(b, names[i]);
		r |= http_buf_printf(b, "\">");
		r |= http_buf_html(b, names[i]);
		r |= http_buf_printf(b, "</a></li>\n");
		free(names[i]);
	}
	free(names);
	r |= http_buf_printf(b, "</ul>\n</body></html>\n");
	return r ? -1 : 0;
}
