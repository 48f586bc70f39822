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

/* Directory depth and symlink expansions a walk accepts (the kernel's
 * own limit on symlinks in one resolution is 40). */
#define WALK_MAX_DEPTH 256
#define WALK_MAX_LINKS 40

/* Open the regular file name in dir and check it is still the inode the
 * walk looked at (s), so a swap between the two opens is refused. */
static int reopen_file(int dir, const char *name, const struct stat *s)
{
	struct stat now;
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
				   O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return status_of(errno);
	if (fstat(fd, &now) < 0 || now.st_dev != s->st_dev ||
	    now.st_ino != s->st_ino) {
		close(fd);
		return -403;
	}
	return fd;
}

/*
 * Kernels before 5.6 (no openat2): the same rules as RESOLVE_BENEATH, one
 * component at a time from the root fd. Every step is an openat(O_PATH |
 * O_NOFOLLOW) relative to a directory fd already held, so renaming or
 * swapping entries meanwhile (renameat2 RENAME_EXCHANGE) cannot lead the
 * walk outside the root: a symlink is read as a symlink and expanded here,
 * an absolute target is refused, and ".." goes back to the fd of the
 * parent the walk came through, never above the root.
 */
static int open_walk(int root_fd, const char *rel)
{
	char buf[2][PATH_MAX], name[NAME_MAX + 1], target[PATH_MAX];
	int dirs[WALK_MAX_DEPTH], depth = 0, links = 0, cur = 0, r;
	const char *p = buf[0];

	if ((size_t)snprintf(buf[0], sizeof(buf[0]), "%s", rel) >=
	    sizeof(buf[0]))
		return -404;
	dirs[0] = root_fd;
	for (;;) {
		const char *end;
		struct stat s;
		ssize_t tl;
		int fd;

		while (*p == '/')
			p++;
		if (!*p) { /* ends on a directory */
			fd = openat(dirs[depth], ".", O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC | O_NONBLOCK);
			r = fd < 0 ? status_of(errno) : fd;
			break;
		}
		end = strchrnul(p, '/');
		if ((size_t)(end - p) > NAME_MAX) {
			r = -404;
			break;
		}
		memcpy(name, p, (size_t)(end - p));
		name[end - p] = 0;
		p = end;
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (depth == 0) {
				r = -403; /* would climb out of the root */
				break;
			}
			close(dirs[depth--]);
			continue;
		}
		fd = openat(dirs[depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &s) < 0) {
			r = status_of(errno);
			if (fd >= 0)
				close(fd);
			break;
		}
		if (S_ISDIR(s.st_mode)) {
			if (depth + 1 >= WALK_MAX_DEPTH) {
				close(fd);
				r = -404;
				break;
			}
			dirs[++depth] = fd;
			continue;
		}
		if (S_ISLNK(s.st_mode)) {
			tl = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (tl <= 0 || ++links > WALK_MAX_LINKS) {
				r = -403;
				break;
			}
			target[tl] = 0;
			if (target[0] == '/' ||
			    (size_t)snprintf(buf[!cur], sizeof(buf[0]), "%s%s",
					     target, p) >= sizeof(buf[0])) {
				r = -403; /* absolute: not beneath the root */
				break;
			}
			cur = !cur;
			p = buf[cur];
			continue;
		}
		close(fd);
		if (*p) { /* a file used as a directory */
			r = -404;
			break;
		}
		/* Never open anything else for reading (FIFOs, devices). */
		r = S_ISREG(s.st_mode) ? reopen_file(dirs[depth], name, &s)
				       : -403;
		break;
	}
	while (depth > 0)
		close(dirs[depth--]);
	return r;
}

/* KSSL_SERVE_NO_OPENAT2=1 forces the walk (tests of the old-kernel path). */
static int openat2_usable(void)
{
	static int usable = -1;

	if (usable < 0) {
		const char *e = getenv("KSSL_SERVE_NO_OPENAT2");

		usable = !(e && *e && strcmp(e, "0"));
	}
	return usable;
}

/*
 * Nothing that can block runs on the event loop: O_NONBLOCK makes opening a
 * FIFO without a writer (or a device) return at once, and the type is
 * checked on the open fd before any read. Regular files keep O_NONBLOCK
 * (as nginx's do): Linux ignores it for their pread, sendfile(2) and
 * splice (the pipe's own flag decides there), and clearing it cost two
 * fcntl calls per request.
 */
static int check_type(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0) {
		close(fd);
		return -403;
	}
	if (S_ISDIR(st->st_mode) || S_ISREG(st->st_mode))
		return fd;
	close(fd);
	return -403; /* FIFOs, sockets, devices: never read */
}

static int open_resolved(int root_fd, const char *rel)
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
	if (!openat2_usable())
		return open_walk(root_fd, rel);
	fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS)
		return open_walk(root_fd, rel);
	return status_of(errno);
}

int fsroot_open(int root_fd, const char *rel, struct stat *st)
{
	int fd = open_resolved(root_fd, rel);

	return fd < 0 ? fd : check_type(fd, st);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether entry e of dir_fd is a directory, without a stat when the file
 * system reports the type. */
static int is_dir(int dir_fd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* Up to FSROOT_LISTING_MAX_ENTRIES names of d ("/" appended to
 * directories) into *names; *more set if the directory has others. */
static size_t read_names(DIR *d, int dir_fd, int dotfiles, char ***names,
			 int *more)
{
	size_t n = 0, cap = 0;
	struct dirent *e;

	*names = NULL;
	*more = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char *name;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (e->d_name[0] == '.' && !dotfiles))
			continue; /* dot-files are not served by default */
		if (n == FSROOT_LISTING_MAX_ENTRIES) {
			*more = 1;
			break;
		}
		if (n == cap) {
			char **nn = realloc(*names, (cap = cap ? 2 * cap : 64) *
							   sizeof(**names));
			if (!nn)
				break;
			*names = nn;
		}
		name = malloc(len + 2);
		if (!name)
			break;
		memcpy(name, e->d_name, len + 1);
		if (is_dir(dir_fd, e))
			strcpy(name + len, "/");
		(*names)[n++] = name;
	}
	return n;
}

int fsroot_listing(int dir_fd, const char *url_path, int dotfiles,
		   struct http_buf *b)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names;
	size_t n, i;
	int r = 0, more;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	n = read_names(d, dir_fd, dotfiles, &names, &more);
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	r |= http_buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
	r |= http_buf_html(b, url_path);
	r |= http_buf_printf(b, "</title></head>\n<body><h1>Index of ");
	r |= http_buf_html(b, url_path);
	r |= http_buf_printf(b, "</h1>\n<ul>\n");
	if (strcmp(url_path, "/"))
		r |= http_buf_printf(b, "<li><a href=\"../\">../</a></li>\n");
	for (i = 0; i < n && b->len < FSROOT_LISTING_MAX_BYTES; i++) {
		r |= http_buf_printf(b, "<li><a href=\"");
		/* "./" keeps a name such as "a:b" from reading as a scheme. */
		r |= http_buf_printf(b, "./");
		r |= http_buf_url(b, names[i]);
		r |= http_buf_printf(b, "\">");
		r |= http_buf_html(b, names[i]);
		r |= http_buf_printf(b, "</a></li>\n");
	}
	r |= http_buf_printf(b, "</ul>\n");
	if (more || i < n)
		r |= http_buf_printf(b, "<p>Listing truncated after %zu "
				     "entries.</p>\n", i);
	for (size_t j = 0; j < n; j++)
		free(names[j]);
	free(names);
	r |= http_buf_printf(b, "</body></html>\n");
	return r ? -1 : 0;
}
