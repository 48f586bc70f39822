/*
 * `kssl serve`: the TLS context (certificate, key, ciphers, ALPN) and its
 * reload on SIGHUP. A reload builds a whole new context and swaps it in:
 * every connection holds a reference to the context it was accepted with,
 * so open connections keep going on the old one, which is freed when the
 * last of them closes. A file that cannot be loaded (missing, unreadable,
 * garbage, a key that does not match the certificate), or an OCSP
 * response file that cannot, leaves the old context in place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selfsigned.h"
#include "serve.h"

static kssl_ctx *ctx_base(const struct serve_opts *o)
{
	static const char *const alpn[] = { "http/1.1" };
	kssl_ctx *ctx = kssl_ctx_new(KSSL_SERVER);

	if (!ctx) {
		fprintf(stderr, "kssl serve: TLS context: %s\n", kssl_last_error());
		return NULL;
	}
	kssl_ctx_set_offload(ctx, o->offload);
	/* Where RX stays in userspace: one recv per flight (the loop checks
	 * kssl_conn_rx_buffered before it polls). */
	kssl_ctx_set_read_ahead(ctx, 1);
	if (kssl_ctx_set_alpn(ctx, alpn, 1) < 0) {
		fprintf(stderr, "kssl serve: ALPN: %s\n", kssl_last_error());
		kssl_ctx_free(ctx);
		return NULL;
	}
	if (kssl_ctx_set_ciphers(ctx, o->ciphers) < 0) {
		fprintf(stderr, "kssl serve: --ciphers %s: %s\n", o->ciphers,
			kssl_last_error());
		kssl_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* --ocsp-response FILE (DER) into ctx. 0, or -1 with the reason in why. */
static int load_ocsp(kssl_ctx *ctx, const char *path, char *why, size_t wlen)
{
	static unsigned char buf[(1 << 20) + 1];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		snprintf(why, wlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f) || n == sizeof(buf)) {
		snprintf(why, wlen, "%s: %s", path,
			 ferror(f) ? "read error" : "larger than 1 MiB");
		fclose(f);
		return -1;
	}
	fclose(f);
	if (kssl_ctx_set_ocsp_response(ctx, buf, n) < 0) {
		snprintf(why, wlen, "%s: %s", path, kssl_last_error());
		return -1;
	}
	return 0;
}

kssl_ctx *tlsctx_new(const struct serve_opts *o)
{
	kssl_ctx *ctx = ctx_base(o);
	char fp[128];

	if (!ctx)
		return NULL;
	/* libkssl honours SSLKEYLOGFILE (for debugging): on a server it
	 * writes the secrets of every client's session to that file. */
	if (secure_getenv("SSLKEYLOGFILE") && *secure_getenv("SSLKEYLOGFILE"))
		fprintf(stderr, "kssl serve: warning: SSLKEYLOGFILE is set: "
			"the TLS secrets of every connection are written to "
			"%s\n", secure_getenv("SSLKEYLOGFILE"));
	if (o->cert) {
		char why[512];

		if (kssl_ctx_use_cert_file(ctx, o->cert, o->key) < 0) {
			fprintf(stderr, "kssl serve: %s\n", kssl_last_error());
			kssl_ctx_free(ctx);
			return NULL;
		}
		if (o->ocsp && load_ocsp(ctx, o->ocsp, why, sizeof(why)) < 0) {
			fprintf(stderr, "kssl serve: --ocsp-response %s\n", why);
			kssl_ctx_free(ctx);
			return NULL;
		}
		return ctx;
	}
	if (selfsigned_install(ctx, fp, sizeof(fp)) < 0) {
		fprintf(stderr, "kssl serve: generating a certificate failed\n");
		kssl_ctx_free(ctx);
		return NULL;
	}
	printf("kssl serve: self-signed certificate for localhost (in memory), "
	       "SHA-256 fingerprint %s\n", fp);
	return ctx;
}

int tlsctx_reload(struct server *srv)
{
	const struct serve_opts *o = srv->o;
	kssl_ctx *ctx;
	char why[512];

	if (!o->cert) {
		fprintf(stderr, "kssl serve: worker %d: SIGHUP: no --cert/--key "
			"to reload (self-signed certificate kept)\n",
			(int)getpid());
		return 0;
	}
	ctx = ctx_base(o);
	if (!ctx || kssl_ctx_use_cert_file(ctx, o->cert, o->key) < 0) {
		fprintf(stderr, "kssl serve: worker %d: SIGHUP: reload of %s "
			"and %s failed, keeping the old certificate: %s\n",
			(int)getpid(), o->cert, o->key, kssl_last_error());
		kssl_ctx_free(ctx);
		return -1;
	}
	if (o->ocsp && load_ocsp(ctx, o->ocsp, why, sizeof(why)) < 0) {
		fprintf(stderr, "kssl serve: worker %d: SIGHUP: --ocsp-response "
			"%s: keeping the old certificate and response\n",
			(int)getpid(), why);
		kssl_ctx_free(ctx);
		return -1;
	}
	kssl_ctx_free(srv->ctx); /* open connections hold their own ref */
	srv->ctx = ctx;
	fprintf(stderr, "kssl serve: worker %d: SIGHUP: reloaded %s and %s\n",
		(int)getpid(), o->cert, o->key);
	return 0;
}
