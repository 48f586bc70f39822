/* Does this kernel have kernel TLS at all? */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kssl/kssl.h"
#include "ktls/wire.h"

static int ulp_listed(void)
{
	char line[256];
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
	int found = 0;

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		char *save = NULL;

		for (char *tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save))
			if (strcmp(tok, "tls") == 0)
				found = 1;
	}
	fclose(f);
	return found;
}

int kssl_kernel_has_tls(void)
{
	int listed = ulp_listed();

	if (listed > 0)
		return 1;
	/*
	 * Not listed may only mean "module not loaded yet": TCP_ULP loads it
	 * on demand. An unconnected socket answers ENOTCONN when the ULP
	 * exists (it needs an established connection) and ENOENT when not.
	 */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return 0;
	rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 4);
	rc = rc == 0 || errno != ENOENT;
	close(fd);
	return rc;
}
