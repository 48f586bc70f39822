/*
 * Fuzz target: path resolution beneath the served root (cli/fsroot.c
 * fsroot_open, fsroot_listing) on a temporary root holding files, a
 * subdirectory, a dot-file and symlinks that stay inside or point outside
 * (/etc, "..", an absolute path). The input is a decoded request path.
 * Invariant: every fd handed back refers to the root or something beneath
 * it (checked through /proc/self/fd); otherwise the answer is -4xx.
 *
 * Built with -DFSROOT_NO_OPENAT2 (target fsroot_noopenat2), a seccomp filter
 * makes openat2(2) fail with ENOSYS first, so the fallback for kernels
 * before 5.6 is what gets fuzzed.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef FSROOT_NO_OPENAT2
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "cli/fsroot.h"

static int root_fd = -1;
static char root_real[PATH_MAX];

#ifdef FSROOT_NO_OPENAT2
/* openat2 -> ENOSYS for this process, everything else allowed. */
static void deny_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("fuzz fsroot: seccomp");
		abort();
	}
}
#endif

static void put(const char *rel, const char *text)
{
	int fd = openat(root_fd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* The tree is removed at exit; an abort leaves it in $TMPDIR. */
static char tmpl[PATH_MAX];

static void cleanup(void)
{
	static const char *const files[] = {
		"sub/deep/x.txt", "sub/a.txt", "sub/inner", "sub/loop",
		"hello.txt", ".hidden", "index.html", "etc", "up", "abs",
		"to-sub", "dangling",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlinkat(root_fd, files[i], 0);
	unlinkat(root_fd, "sub/deep", AT_REMOVEDIR);
	unlinkat(root_fd, "sub", AT_REMOVEDIR);
	close(root_fd);
	rmdir(tmpl);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tmpl, sizeof(tmpl), "%s/kssl-fuzz-root.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl) || !realpath(tmpl, root_real))
		abort();
	root_fd = open(root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0 || mkdirat(root_fd, "sub", 0755) ||
	    mkdirat(root_fd, "sub/deep", 0755))
		abort();
	put("hello.txt", "hello\n");
	put(".hidden", "secret\n");
	put("index.html", "<p>index</p>\n");
	put("sub/a.txt", "a\n");
	put("sub/deep/x.txt", "x\n");
	if (symlinkat("../hello.txt", root_fd, "sub/inner") ||
	    symlinkat("loop", root_fd, "sub/loop") ||
	    symlinkat("/etc", root_fd, "etc") ||
	    symlinkat("..", root_fd, "up") ||
	    symlinkat("/etc/passwd", root_fd, "abs") ||
	    symlinkat("sub/deep", root_fd, "to-sub") ||
	    symlinkat("missing", root_fd, "dangling"))
		abort();
	atexit(cleanup);
#ifdef FSROOT_NO_OPENAT2
	deny_openat2();
#endif
}

/* The fd's path is the root or lies beneath it. */
static int beneath_root(int fd)
{
	char link[64], path[PATH_MAX];
	size_t rl = strlen(root_real);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return 0;
	path[n] = 0;
	return !strncmp(path, root_real, rl) && (path[rl] == 0 || path[rl] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stat st;
	char *rel;
	int fd;

	if (root_fd < 0)
		setup();
	rel = fuzz_cstr(data, size);
	fd = fsroot_open(root_fd, rel, &st);
	FUZZ_CHECK(fd >= 0 || (fd <= -400 && fd > -600));
	if (fd >= 0) {
		struct stat st2;

		FUZZ_CHECK(beneath_root(fd));
		FUZZ_CHECK(!fstat(fd, &st2));
		FUZZ_CHECK(st.st_ino == st2.st_ino && st.st_mode == st2.st_mode);
		/* Only regular files and directories come back (finding 1). */
		FUZZ_CHECK(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
		if (S_ISDIR(st.st_mode)) {
			struct http_buf b = { 0 };

			/* Dot-files stay out of listings by default. */
			FUZZ_CHECK(fsroot_listing(fd, "/", 0, &b) == 0);
			FUZZ_CHECK(b.len > 0 && !strstr(b.p, ".hidden"));
			free(b.p);
		}
		close(fd);
	}
	free(rel);
	return 0;
}
