/*
 * `kssl probe [--json]`: what this machine offers to kssl: the kernel, the
 * tls ULP, which TLS version x cipher x direction really offloads (one
 * loopback handshake per combination through libkssl), io_uring and its
 * opcodes, and the pipe size limit for splice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include "selfsigned.h"
#include "serve.h"

struct combo {
	const char *version, *cipher, *list; /* list: OpenSSL name to pin */
	int v;
	int tx, rx;          /* enum kssl_offload_state of the server side */
	char tx_why[160], rx_why[160], err[160], negotiated[64];
};

static struct combo combos[] = {
	{ .version = "1.2", .cipher = "AES-128-GCM", .list = "ECDHE-ECDSA-AES128-GCM-SHA256", .v = KSSL_TLS1_2 },
	{ .version = "1.2", .cipher = "AES-256-GCM", .list = "ECDHE-ECDSA-AES256-GCM-SHA384", .v = KSSL_TLS1_2 },
	{ .version = "1.2", .cipher = "CHACHA20-POLY1305", .list = "ECDHE-ECDSA-CHACHA20-POLY1305", .v = KSSL_TLS1_2 },
	{ .version = "1.2", .cipher = "AES-128-CCM", .list = "ECDHE-ECDSA-AES128-CCM", .v = KSSL_TLS1_2 },
	{ .version = "1.3", .cipher = "AES-128-GCM", .list = "TLS_AES_128_GCM_SHA256", .v = KSSL_TLS1_3 },
	{ .version = "1.3", .cipher = "AES-256-GCM", .list = "TLS_AES_256_GCM_SHA384", .v = KSSL_TLS1_3 },
	{ .version = "1.3", .cipher = "CHACHA20-POLY1305", .list = "TLS_CHACHA20_POLY1305_SHA256", .v = KSSL_TLS1_3 },
	{ .version = "1.3", .cipher = "AES-128-CCM", .list = "TLS_AES_128_CCM_SHA256", .v = KSSL_TLS1_3 },
};

static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return *b < 0 ? -1 : 0;
fail:
	if (l >= 0)
		close(l);
	return -1;
}

static void *client_main(void *arg)
{
	kssl_conn *c = arg;
	char buf[16];

	/* The server side records the outcome; the client only plays along. */
	if (kssl_handshake(c) == 0 && kssl_write(c, "ping", 4) == 4)
		(void)!kssl_read(c, buf, sizeof(buf));
	return NULL;
}

static void try_combo(kssl_ctx *sctx, struct combo *cb)
{
	kssl_ctx *cctx = kssl_ctx_new(KSSL_CLIENT);
	kssl_conn *s = NULL, *c = NULL;
	const char *why = NULL;
	pthread_t th;
	int cfd = -1, sfd = -1, r;
	char buf[16];

	if (!cctx) {
		snprintf(cb->err, sizeof(cb->err), "%s", kssl_last_error());
		return;
	}
	kssl_ctx_set_verify(cctx, KSSL_VERIFY_NONE);
	kssl_ctx_set_check_hostname(cctx, 0);
	if (kssl_ctx_set_versions(cctx, cb->v, cb->v) < 0 ||
	    (cb->v == KSSL_TLS1_2 ? kssl_ctx_set_ciphers(cctx, cb->list)
				  : kssl_ctx_set_ciphersuites(cctx, cb->list)) < 0) {
		snprintf(cb->err, sizeof(cb->err), "%s", kssl_last_error());
		goto out;
	}
	if (tcp_pair(&cfd, &sfd) < 0) {
		snprintf(cb->err, sizeof(cb->err), "socket pair: %s",
			 strerror(errno));
		goto out;
	}
	c = kssl_conn_new(cctx, cfd);
	s = c ? kssl_conn_new(sctx, sfd) : NULL;
	if (!s) {
		snprintf(cb->err, sizeof(cb->err), "%s", kssl_last_error());
		goto out;
	}
	r = pthread_create(&th, NULL, client_main, c);
	if (r) {
		snprintf(cb->err, sizeof(cb->err), "pthread_create: %s",
			 strerror(r));
		goto out;
	}
	if (kssl_handshake(s) < 0) {
		snprintf(cb->err, sizeof(cb->err), "handshake: %s",
			 kssl_last_error());
	} else if (kssl_read(s, buf, sizeof(buf)) == 4 &&
		   kssl_write(s, "pong", 4) != 4) {
		snprintf(cb->err, sizeof(cb->err), "write: %s",
			 kssl_last_error());
	}
	pthread_join(th, NULL);
	snprintf(cb->negotiated, sizeof(cb->negotiated), "%s",
		 kssl_conn_cipher(s) ? kssl_conn_cipher(s) : "");
	cb->tx = kssl_conn_offload(s, KSSL_DIR_TX, &why);
	snprintf(cb->tx_why, sizeof(cb->tx_why), "%s",
		 cb->tx == KSSL_OFFLOAD_KERNEL || !why ? "" : why);
	why = NULL;
	cb->rx = kssl_conn_offload(s, KSSL_DIR_RX, &why);
	snprintf(cb->rx_why, sizeof(cb->rx_why), "%s",
		 cb->rx == KSSL_OFFLOAD_KERNEL || !why ? "" : why);
out:
	kssl_conn_free(s);
	kssl_conn_free(c);
	kssl_ctx_free(cctx);
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const char *state(int s)
{
	return s == KSSL_OFFLOAD_KERNEL ? "kernel" :
	       s == KSSL_OFFLOAD_USER ? "user" : "pending";
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static const struct { int op; const char *name; } uring_ops[] = {
	{ IORING_OP_SPLICE, "SPLICE" }, { IORING_OP_TEE, "TEE" },
	{ IORING_OP_POLL_ADD, "POLL_ADD" }, { IORING_OP_ACCEPT, "ACCEPT" },
	{ IORING_OP_SEND, "SEND" }, { IORING_OP_RECV, "RECV" },
	{ IORING_OP_READ, "READ" }, { IORING_OP_SENDMSG, "SENDMSG" },
	{ IORING_OP_SEND_ZC, "SEND_ZC" }, { IORING_OP_SENDMSG_ZC, "SENDMSG_ZC" },
	{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
};
#define N_OPS (sizeof(uring_ops) / sizeof(uring_ops[0]))

int cmd_probe(int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	struct utsname u;
	struct io_uring ring;
	struct io_uring_probe *probe = NULL;
	int has_tls = kssl_kernel_has_tls(), uring_rc, has_op[N_OPS] = { 0 };
	kssl_ctx *sctx = kssl_ctx_new(KSSL_SERVER);
	char fp[128], tls_why[200] = "";
	long pipe_max = read_long("/proc/sys/fs/pipe-max-size");
	long disabled = read_long("/proc/sys/kernel/io_uring_disabled");

	uname(&u);
	if (!sctx || selfsigned_install(sctx, fp, sizeof(fp)) < 0) {
		fprintf(stderr, "kssl probe: %s\n", kssl_last_error());
		return 1;
	}
	if (kssl_ctx_set_ciphers(sctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-CCM") < 0 ||
	    kssl_ctx_set_ciphersuites(sctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256") < 0) {
		fprintf(stderr, "kssl probe: %s\n", kssl_last_error());
		kssl_ctx_free(sctx);
		return 1;
	}
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++)
		try_combo(sctx, &combos[i]);
	if (!has_tls)
		snprintf(tls_why, sizeof(tls_why), "%s", combos[4].tx_why[0] ?
			 combos[4].tx_why : "no \"tls\" in tcp_available_ulp");
	uring_rc = io_uring_queue_init(4, &ring, 0);
	if (uring_rc == 0) {
		probe = io_uring_get_probe_ring(&ring);
		for (size_t i = 0; probe && i < N_OPS; i++)
			has_op[i] = io_uring_opcode_supported(probe, uring_ops[i].op);
		io_uring_free_probe(probe);
		io_uring_queue_exit(&ring);
	}
	if (json) {
		printf("{\n  \"kernel\": ");
		json_str(u.release);
		printf(",\n  \"machine\": ");
		json_str(u.machine);
		printf(",\n  \"kssl\": \"" KSSL_VERSION_STRING "\",\n  \"tls_ulp\": %s,\n",
		       has_tls ? "true" : "false");
		printf("  \"tls_ulp_reason\": ");
		json_str(tls_why);
		printf(",\n  \"offload\": [\n");
		for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
			struct combo *c = &combos[i];

			printf("    {\"version\": \"%s\", \"cipher\": \"%s\", \"tx\": \"%s\", \"rx\": \"%s\", \"tx_reason\": ",
			       c->version, c->cipher, state(c->tx), state(c->rx));
			json_str(c->tx_why);
			printf(", \"rx_reason\": ");
			json_str(c->rx_why);
			printf(", \"negotiated\": ");
			json_str(c->negotiated);
			printf(", \"error\": ");
			json_str(c->err);
			printf("}%s\n", i + 1 < sizeof(combos) / sizeof(combos[0]) ? "," : "");
		}
		printf("  ],\n  \"io_uring\": %s,\n  \"io_uring_error\": ",
		       uring_rc == 0 ? "true" : "false");
		json_str(uring_rc == 0 ? "" : strerror(-uring_rc));
		printf(",\n  \"io_uring_disabled_sysctl\": %ld,\n  \"io_uring_ops\": {", disabled);
		for (size_t i = 0; i < N_OPS; i++)
			printf("%s\"%s\": %s", i ? ", " : "", uring_ops[i].name,
			       has_op[i] ? "true" : "false");
		printf("},\n  \"pipe_max_size\": %ld\n}\n", pipe_max);
	} else {
		printf("kernel:      %s (%s)\n", u.release, u.machine);
		printf("tls ULP:     %s%s%s\n", has_tls ? "yes" : "no",
		       has_tls ? "" : " - ", tls_why);
		printf("offload (server side of a loopback handshake):\n");
		for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
			struct combo *c = &combos[i];

			printf("  TLS %s %-18s TX %-7s RX %-7s %s%s\n", c->version,
			       c->cipher, state(c->tx), state(c->rx), c->negotiated,
			       c->err);
		}
		printf("io_uring:    %s\n", uring_rc == 0 ? "yes" : strerror(-uring_rc));
		if (uring_rc == 0) {
			printf("  ops:");
			for (size_t i = 0; i < N_OPS; i++)
				printf(" %s%s", uring_ops[i].name, has_op[i] ? "" : "(no)");
			printf("\n");
		}
		printf("pipe-max-size: %ld\n", pipe_max);
	}
	kssl_ctx_free(sctx);
	return 0;
}
