/*
 * The switch from OpenSSL's record layer to the kernel's, per direction.
 *
 * Invariant: once ktls_install() succeeds for a direction, that direction's
 * records belong to the kernel for the rest of the connection; OpenSSL's
 * state for it is stale and must never be used again. Everything after the
 * setsockopt is therefore infallible bookkeeping.
 *
 * RX has one more rule: the kernel only sees bytes still in the socket, so
 * the switch happens only when OpenSSL holds no unread record or plaintext
 * (SSL_has_pending() == 0). kssl turns on read-ahead only where RX cannot
 * move (ks_conn_apply_mode), so after the handshake OpenSSL has read
 * exactly up to a record boundary.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ktls/ktls.h"
#include "internal.h"

void ks_dir_forget_secret(struct ks_dir *d)
{
	OPENSSL_clear_free(d->secret, KS_MAX_SECRET);
	d->secret = NULL;
	d->secret_len = 0;
}

/* The direction stays in OpenSSL for a reason that outlives the
 * connection (static text or ks_reason_intern's). */
static void dir_user_static(struct ks_dir *d, const char *reason)
{
	d->reason = reason;
	d->state = KSSL_STATE_USER;
	ks_dir_forget_secret(d);
}

void ks_dir_user(struct ks_dir *d, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dir_user_static(d, ks_reason_intern(buf));
}

/*
 * Both directions stay in OpenSSL for one reason. Formatting it (and
 * strerror, which goes through gettext) cost ~1.8k instructions a
 * direction at every handshake on a kernel without kTLS: the common case
 * there is static text, anything else is formatted once.
 */
static void no_ulp(kssl_conn *conn, int want_tx, int want_rx, int err)
{
	static const char none[] = "kernel has no tls ULP (CONFIG_TLS): "
				   "setsockopt TCP_ULP: No such file or directory";
	struct ks_dir *first = want_tx ? &conn->tx : &conn->rx;

	if (err == ENOENT) {
		if (want_tx)
			dir_user_static(&conn->tx, none);
		if (want_rx)
			dir_user_static(&conn->rx, none);
		return;
	}
	ks_dir_user(first, "cannot attach the tls ULP: setsockopt TCP_ULP: %s",
		    strerror(err));
	if (want_tx && want_rx)
		dir_user_static(&conn->rx, conn->tx.reason);
}

static int wanted(const kssl_conn *conn, enum kssl_dir dir)
{
	switch (conn->offload) {
	case KSSL_OFFLOAD_BOTH: return 1;
	case KSSL_OFFLOAD_TX: return dir == KSSL_DIR_TX;
	case KSSL_OFFLOAD_RX: return dir == KSSL_DIR_RX;
	default: return 0;
	}
}

/* Why neither direction can move, or NULL if they may. */
static const char *connection_blocker(kssl_conn *conn, char *buf, size_t len)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(conn->core.ssl);
	const char *why = NULL;
	int v = SSL_version(conn->core.ssl);

	if (v != TLS1_2_VERSION && v != TLS1_3_VERSION) {
		/* Only an explicit kssl_ctx_set_versions minimum gets here. */
		snprintf(buf, len, "%s negotiated: kernel TLS carries TLS 1.2 and 1.3 only",
			 SSL_get_version(conn->core.ssl));
		return buf;
	}
	if (SSL_get_current_compression(conn->core.ssl))
		return "TLS compression is on; kernel TLS has none";
	if (!c || !ktls_cipher_type(c, &why)) {
		snprintf(buf, len, "%s: %s", c ? SSL_CIPHER_standard_name(c) : "?",
			 why ? why : "no cipher");
		return buf;
	}
	return NULL;
}

/* Why TX in particular must stay in OpenSSL (message in buf), or 0. */
static int tx_blocker(kssl_conn *conn, char *buf, size_t len)
{
	uint8_t mfl = SSL_SESSION_get_max_fragment_length(SSL_get_session(conn->core.ssl));

	/* The kernel always fills records up to 16 KiB (RFC 6066, 4). */
	if (mfl != TLSEXT_max_fragment_length_DISABLED) {
		snprintf(buf, len, "peer negotiated max_fragment_length (%d bytes); kernel TLS sends 16 KiB records",
			 256 << mfl);
		return 1;
	}
	return 0;
}

static void install_failed(struct ks_dir *d, const char *opt, int err,
			   const kssl_conn *conn)
{
	ks_dir_user(d, "setsockopt %s for %s %s: %s%s", opt,
		    conn->core.info.version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
		    SSL_CIPHER_standard_name(conn->core.info.suite), strerror(err),
		    err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP ?
		    " (this kernel does not support that cipher)" : "");
}

static int switch_dir(kssl_conn *conn, struct ks_dir *d, int optname)
{
	struct ktls_crypto ci;
	const char *why = "key derivation failed";
	int is_tx = optname == TLS_TX, rc;

	if (ktls_derive(conn->core.ssl, is_tx, d->secret, d->secret_len, d->records,
			&ci, &why) < 0) {
		OPENSSL_cleanse(&ci, sizeof(ci));
		ks_dir_user(d, "%s", why);
		return -1;
	}
	rc = ktls_install(conn->core.fd, optname, &ci);
	if (rc < 0) {
		install_failed(d, is_tx ? "TLS_TX" : "TLS_RX", -rc, conn);
		return -1;
	}
	/* Point of no return for this direction (see the file comment). */
	d->state = KSSL_STATE_KERNEL;
	d->reason = NULL;
	ks_dir_forget_secret(d);
	return 0;
}

void ks_conn_release_ssl(kssl_conn *conn)
{
	if (!conn->core.ssl)
		return;
	if (conn->core.ctx->client_sessions && !conn->session)
		conn->session = SSL_get1_session(conn->core.ssl);
	/* Both directions are the kernel's: OpenSSL's buffers and keys are
	 * dead weight (and key material). What the binding asked to keep is
	 * copied now, since the accessors read OpenSSL until here. */
	ks_kept_capture(&conn->core);
	ks_core_free_ssl(&conn->core);
}

int ks_offload_rx_now(kssl_conn *conn)
{
	if (conn->rx.state != KSSL_STATE_PENDING)
		return conn->rx.state == KSSL_STATE_KERNEL;
	if (conn->rx_keyupdate_seen) {
		ks_dir_user(&conn->rx, "peer sent KeyUpdate before the receive switch");
		return 0;
	}
	if (SSL_has_pending(conn->core.ssl)) {
		conn->rx_deferred = 1; /* retried once the caller drained it */
		conn->rx.reason = "waiting until OpenSSL's buffered records are read";
		return 0;
	}
	if (switch_dir(conn, &conn->rx, TLS_RX) < 0)
		return 0;
	conn->rx_deferred = 0;
	if (conn->core.info.version == TLS1_3_VERSION)
		(void)!ktls_rx_expect_no_pad(conn->core.fd); /* optional speed-up */
	if (conn->tx.state == KSSL_STATE_KERNEL)
		ks_conn_release_ssl(conn);
	return 1;
}

void ks_offload_after_handshake(kssl_conn *conn)
{
	char buf[160];
	const char *block = connection_blocker(conn, buf, sizeof(buf));
	int want_tx = wanted(conn, KSSL_DIR_TX), want_rx = wanted(conn, KSSL_DIR_RX);
	int rc;

	if (!want_tx)
		dir_user_static(&conn->tx, "transmit offload turned off by the application");
	if (!want_rx)
		dir_user_static(&conn->rx, "receive offload turned off by the application");
	if (!want_tx && !want_rx)
		return;
	if (!block)
		block = ks_pha_blocker(conn);
	if (block) {
		if (want_tx)
			ks_dir_user(&conn->tx, "%s", block);
		if (want_rx)
			ks_dir_user(&conn->rx, "%s", block);
		return;
	}
	if (want_tx && tx_blocker(conn, buf, sizeof(buf))) {
		ks_dir_user(&conn->tx, "%s", buf);
		want_tx = 0;
		if (!want_rx)
			return;
	}
	/*
	 * A kernel the process found without the ULP (probed once, loading
	 * the module on demand where allowed) is not asked again for every
	 * connection: one system call less per handshake there.
	 */
	rc = ks_kernel_can_offload() ? ktls_attach_ulp(conn->core.fd) : -ENOENT;
	if (rc < 0) {
		no_ulp(conn, want_tx, want_rx, -rc);
		return;
	}
	conn->ulp_attached = 1;
	if (want_tx)
		switch_dir(conn, &conn->tx, TLS_TX);
	if (!want_rx)
		return;
	/*
	 * A TLS 1.3 client that keeps sessions waits for the server's
	 * tickets: they come after the handshake, and once RX is in the
	 * kernel OpenSSL 3.0 has no way to take them in. Servers send
	 * tickets before data, so the first application record read in
	 * userspace marks the switch point (src/io.c).
	 */
	if (conn->core.ctx->role == KSSL_CLIENT && conn->core.ctx->client_sessions &&
	    conn->core.info.version == TLS1_3_VERSION) {
		conn->rx_deferred = 1;
		conn->rx.reason = "waiting for the server's session tickets";
		return;
	}
	ks_offload_rx_now(conn);
}
