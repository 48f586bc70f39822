/*
 * Private definitions of libkssl (src/). Not installed.
 *
 * Symbol naming: public calls are kssl_*; internal ones are ks_* (src/) and
 * ktls_* (ktls/). The shared library exports kssl_* only (kssl.map).
 *
 * The internal convention (one for all of src/ and ktls/):
 *   - A function that can fail returns int (or ssize_t): >= 0 on success
 *     (0, a byte count, or a documented flag such as "1 = now in the
 *     kernel"), a negative value on failure. In src/ that value is a
 *     KSSL_E_* code and the thread's error state (message, reason, detail,
 *     errno, OpenSSL error; src/error.c) is set by ks_err* / ks_why at the
 *     point where the cause is known. ktls/ is the kernel seam and knows
 *     nothing of KSSL_E_*: it returns 0 or -errno, and its caller in src/
 *     turns that into a KSSL_E_* code or an offload reason.
 *   - Functions returning a pointer return NULL on failure with the error
 *     state set (src/) or errno set (ktls/).
 *   - Every status-returning function is declared KSSL_MUST_USE: a result
 *     is handled or explicitly discarded with a (void) cast and a comment
 *     saying why dropping it is right.
 *   - Nothing in the library decides from message text.
 */
#ifndef KSSL_INTERNAL_H
#define KSSL_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "kssl/kssl.h"

#define KS_MAX_SECRET 64
#define KS_MAX_ALPN 256
#define KS_MAX_WARN_ALERTS 5 /* OpenSSL 3.0's MAX_WARN_ALERT_COUNT */

struct kssl_ctx {
	SSL_CTX *ssl_ctx;
	enum kssl_role role;
	int refs; /* atomic */
	enum kssl_verify verify;
	int check_hostname;
	enum kssl_offload_mode offload;
	int client_sessions;
	int read_ahead;          /* kssl_ctx_set_read_ahead */
	int conn_offload;        /* a conn of an offload-NONE ctx may offload */
	int pha;                 /* post-handshake auth (src/pha.c) */
	kssl_password_cb pw_cb;
	void *pw_arg;
	kssl_sni_cb sni_cb;
	void *sni_arg;
	kssl_msg_cb msg_cb;     /* kssl_ctx_set_msg_cb */
	void *msg_arg;
	unsigned char alpn[KS_MAX_ALPN]; /* wire format */
	size_t alpn_len;
	FILE *keylog; /* only when asked for */
	pthread_mutex_t keylog_lock;
	unsigned char *ocsp; /* DER OCSP response to staple (ocsp.c) */
	size_t ocsp_len;
};

/*
 * What we learn about a connection at handshake end; outlives the SSL.
 * Kept small: every idle connection holds one (issue 9).
 */
struct ks_info {
	int version;
	int session_reused;
	long verify_result;
	/* The negotiated suite, static in libssl (its names are read from
	 * it, not copied), or NULL before the handshake. */
	const SSL_CIPHER *suite;
	unsigned char *alpn;     /* heap, only when a protocol was selected */
	size_t alpn_len;
	char *server_name;
	X509 *peer;              /* own reference; DER made when first asked */
	unsigned char *peer_der; /* i2d of peer, or NULL until then */
	size_t peer_der_len;
	unsigned char tls_unique[64]; /* first Finished (RFC 5929) */
	size_t tls_unique_len;
};

/*
 * One direction of the record layer. An idle connection keeps one per
 * direction: no buffers in it (issue 9).
 */
struct ks_dir {
	enum kssl_offload_state state;
	/* TLS 1.3 traffic secret (KS_MAX_SECRET bytes, heap) from the key log
	 * callback until it is installed or the direction stays in
	 * userspace; then wiped and freed (ks_dir_forget_secret). */
	unsigned secret_len;
	unsigned char *secret;
	const char *reason;      /* static or interned text (ks_reason_intern) */
	uint64_t records;        /* records under the current key (seq no.) */
};

/*
 * How messages name a session and its calls: the one thing the session
 * core (below) knows about which protocol it serves.
 */
struct ks_kind {
	const char *noun;         /* "<noun> failed earlier: ..." */
	const char *set_hostname; /* the call that names the peer */
	const char *shutdown;     /* the call that sends close_notify */
};
extern const struct ks_kind ks_kind_tls, ks_kind_dtls;

/*
 * The session core: what a TLS connection (struct kssl_conn) and a DTLS
 * session (struct kssl_dtls, src/dtls.c) both are. Each embeds one as its
 * member core; the functions both use (failure marking, OpenSSL result
 * mapping, host name, handshake and record steps in OpenSSL, what is
 * learnt at handshake end, teardown) take it. Nothing about kernel TLS
 * lives here.
 */
struct ks_core {
	const struct ks_kind *kind;
	kssl_ctx *ctx;
	SSL *ssl;                /* TLS: NULL once both directions are offloaded */
	char *failed_msg;        /* set with failed (ks_fail), heap or static */
	int fd;
	int failed;              /* KSSL_E_* that broke the session, or 0 */
	/* Flags as bits: every idle connection holds a core (issue 9). */
	unsigned handshake_done : 1;
	unsigned tx_closed : 1;  /* we sent close_notify */
	unsigned rx_closed : 1;  /* peer's close_notify seen */
	unsigned bio_eintr : 1;  /* the BIO's last socket call got EINTR (TLS) */
	struct ks_info info;
	unsigned keep;           /* KSSL_KEEP_* asked for (kssl_conn_set_keep_info) */
	struct ks_kept *kept;    /* what keep asked for, once the SSL is freed */
};

/*
 * What kssl_conn_set_keep_info asks a session to keep once kssl frees its
 * SSL (src/peerinfo.c): allocated only then, and only when asked, since a
 * kssl serve connection needs none of it.
 */
struct ks_kept {
	STACK_OF(X509) *chain[2];      /* enum kssl_chain; own references */
	const SSL_CIPHER **ciphers[2]; /* enum kssl_cipher_list; static in libssl */
	int n_ciphers[2];              /* -1: not available */
};

/* A TLS connection: the session core and the kernel TLS state. */
struct kssl_conn {
	struct ks_core core;
	kssl_ctx *first_ctx;     /* set by an SNI switch; see kssl_conn_set_ctx */
	void *data;
	enum kssl_offload_mode offload;
	unsigned rx_eof : 1;     /* peer's stream ended without close_notify:
				    reads repeat KSSL_E_EOF, writes go on */
	unsigned ulp_attached : 1;
	unsigned rx_deferred : 1; /* client waits for tickets before RX switch */
	unsigned rx_keyupdate_seen : 1; /* OpenSSL re-keyed RX: kernel cannot
					   take it */
	unsigned pha_offered : 1; /* server: ClientHello had post_handshake_auth */
	struct ks_dir tx, rx;
	SSL_SESSION *session;    /* kept after SSL_free for client sessions */

	/* kernel RX: control records split over reads (see src/io.c) */
	size_t hs_skip;            /* body bytes of a dropped message */
	unsigned char hs_head[4];  /* a post-handshake message header */
	unsigned char hs_head_len;
	unsigned char alert[2];
	unsigned char alert_len;
	int warn_alerts;           /* consecutive warning alerts (limit: 5) */

	/* userspace sendfile: file bytes read ahead of SSL_write, whose
	 * record at sf_buf + sf_pos a WANT_WRITE retry must send again */
	int sf_fd;
	unsigned sf_pos;
	unsigned char *sf_buf;
	size_t sf_len;             /* bytes from sf_pos not yet written */
	off_t sf_off;
};

/* ---- errors (src/error.c) --------------------------------------------- */

/*
 * Set the thread's message and return code. The reason is KSSL_R_NONE
 * (KSSL_R_BAD_ARGUMENT for KSSL_E_INVAL, KSSL_R_INTERRUPTED for
 * KSSL_E_INTR) until ks_why names a finer one.
 */
int ks_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set the reason and detail of the current failure; returns code. */
int ks_why(int code, int reason, long detail);
/* The current failure is the one OpenSSL reports as e (ERR_PACK), for
 * checks kssl makes itself once OpenSSL's state is gone: reason
 * KSSL_R_OPENSSL; returns code. */
int ks_why_openssl(int code, unsigned long e);
/* KSSL_E_EOF, KSSL_R_UNEXPECTED_EOF, "<what>: peer closed ..." */
int ks_eof(const char *what);
/* KSSL_E_CLOSED, KSSL_R_FAILED_EARLIER, repeating the first failure. */
int ks_failed_earlier(const struct ks_core *c);
/* As ks_err, appending ": <strerror(errno_val)>"; reason KSSL_R_ERRNO. */
int ks_err_errno(int code, int errno_val, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As ks_err, appending OpenSSL's queued reason (and clearing the queue);
 * reason KSSL_R_OPENSSL when OpenSSL queued one. */
int ks_err_ssl(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* calloc(1, size), or NULL with KSSL_E_NOMEM "<who>: out of memory". */
void *ks_zalloc(size_t size, const char *who);
/* Mark the session failed with the current message; returns code. */
int ks_fail(struct ks_core *c, int code);
/* Free what ks_fail kept (at session free). */
void ks_fail_free(struct ks_core *c);
/* Map an SSL_get_error result after a failed SSL_* call to KSSL_E_*. */
KSSL_MUST_USE int ks_ssl_result(struct ks_core *c, int ret, const char *what);
/* Name of a TLS alert description ("bad_record_mac"). */
const char *ks_alert_name(int desc);

/* ---- handshake and offload (src/handshake.c, src/offload.c) ------------ */

/* The message callback on conn's SSL (on) or none (src/handshake.c). */
void ks_conn_watch_records(kssl_conn *conn, int on);
void ks_keylog_cb(const SSL *ssl, const char *line);
/* Install ks_keylog_cb on the context only where secrets can be used
 * (src/context.c); ks_capture_secrets_always (tests that fake the tls
 * ULP) installs it everywhere. */
void ks_ctx_update_keylog(kssl_ctx *ctx);
/* 1 if a secret can be put to use: a kernel with the tls ULP (asked once
 * per process), or ks_capture_secrets_always. */
int ks_kernel_can_offload(void);
/* Read-ahead and the message callback as conn's offload mode, context and
 * kernel allow (src/connection.c). */
void ks_conn_apply_mode(kssl_conn *conn);
/* Append a key log line to the context's key log file, if it has one. */
void ks_keylog_write(kssl_ctx *ctx, const char *line);
extern int ks_capture_secrets_always;
void ks_offload_after_handshake(kssl_conn *conn);
/* Try the deferred RX switch; returns 1 if RX is now in the kernel, 0 if
 * not (then rx.reason says why or that it waits): a flag, not a status. */
int ks_offload_rx_now(kssl_conn *conn);
void ks_dir_user(struct ks_dir *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Wipe and free the direction's traffic secret, if it holds one. */
void ks_dir_forget_secret(struct ks_dir *d);
void ks_conn_release_ssl(kssl_conn *conn);
/* The process-wide copy of an offload reason (src/reason.c): equal texts
 * share one, kept until exit. Never NULL. */
const char *ks_reason_intern(const char *text);

/* ---- shared by TLS connections and DTLS sessions ---------------------- */

/* kssl_conn_set_hostname / kssl_dtls_set_hostname (src/hostname.c). */
KSSL_MUST_USE int ks_hostname_set(struct ks_core *c, const char *name);
/* Clients, before the first handshake step: SNI and the identity to
 * verify. */
KSSL_MUST_USE int ks_hostname_apply(struct ks_core *c);
/*
 * The session core (src/core.c). ks_core_init: an SSL of ctx over bio
 * (taken, freed on failure), in the role of ctx, holding a reference to
 * ctx; what names the call in the message. ks_core_free: the one teardown
 * of what the core owns, for kssl_conn_free and kssl_dtls_free.
 */
KSSL_MUST_USE int ks_core_init(struct ks_core *c, const struct ks_kind *kind,
			       kssl_ctx *ctx, int fd, BIO *bio, const char *what);
void ks_core_free(struct ks_core *c);
/* Free the SSL early (TLS, once both directions are in the kernel), or
 * at ks_core_free; a session not failed stays resumable. */
void ks_core_free_ssl(struct ks_core *c);
/*
 * The start of kssl_handshake / kssl_dtls_handshake: 1 if a handshake step
 * is due, 0 if the handshake is done, else KSSL_E_* (failed earlier, or the
 * host name cannot be applied; that fails the session).
 */
KSSL_MUST_USE int ks_core_handshake_start(struct ks_core *c);
/* One SSL_do_handshake: 0 once finished (handshake_done set, info
 * recorded), else KSSL_E_* (WANT_* included); what names the step in
 * messages. */
KSSL_MUST_USE int ks_core_handshake_step(struct ks_core *c, const char *what);
/* SSL_read: bytes read, 0 after close_notify, or KSSL_E_*. */
KSSL_MUST_USE int ks_core_read(struct ks_core *c, void *buf, size_t len,
			       const char *what);
/* SSL_write: bytes written (never 0), or KSSL_E_*. */
KSSL_MUST_USE int ks_core_write(struct ks_core *c, const void *buf, size_t len,
				const char *what);
/* KSSL_E_CLOSED, KSSL_R_SHUT_DOWN: "<call> after <the shutdown call>". */
int ks_core_tx_closed(const struct ks_core *c, const char *call);
/*
 * kssl_shutdown / kssl_dtls_shutdown: close_notify through OpenSSL unless
 * tx_closed (a kernel TX sent it already); 1 if the peer's was seen too,
 * 0 if not (yet), or KSSL_E_*.
 */
KSSL_MUST_USE int ks_core_shutdown(struct ks_core *c, const char *what);
/* Before kssl frees the SSL of a live conn (src/peerinfo.c): keep what
 * c->keep asks for. */
void ks_kept_capture(struct ks_core *c);
/* Free what ks_kept_capture kept (at ks_core_free). */
void ks_kept_free(struct ks_core *c);
/* kssl_conn_cipher_desc / kssl_dtls_cipher_desc. */
KSSL_MUST_USE int ks_core_cipher_desc(const struct ks_core *c,
				      struct kssl_cipher_desc *out);

/* Free what struct ks_info owns. */
void ks_info_clear(struct ks_info *info);
/* Take the peer's certificate (DER) and verify result into info, when
 * there is one: at handshake end, and after post-handshake auth. */
void ks_core_peer_changed(struct ks_core *c);
/* The accessors kssl_conn_* and kssl_dtls_* share (0/NULL before the
 * handshake finished; the verify result is OpenSSL's until then). */
int ks_core_version(const struct ks_core *c);
const char *ks_core_cipher(const struct ks_core *c, int openssl_name);
size_t ks_core_peer_cert_der(const struct ks_core *c, const uint8_t **der);
long ks_core_verify_result(const struct ks_core *c);

/*
 * The accessors of the handshake record that every session type exports,
 * each forwarding to the core: <prefix>_version, <prefix>_cipher,
 * <prefix>_cipher_openssl, <prefix>_cipher_desc, <prefix>_peer_cert_der,
 * <prefix>_verify_result
 * (kssl_conn_* in connection.c, kssl_dtls_* in dtls.c; documented in the
 * public headers). Written once so that the two sets cannot drift apart.
 */
#define KS_CORE_ACCESSORS(prefix, type)                                       \
	int prefix##_version(const type *s)                                   \
	{                                                                     \
		return ks_core_version(&s->core);                             \
	}                                                                     \
	const char *prefix##_cipher(const type *s)                            \
	{                                                                     \
		return ks_core_cipher(&s->core, 0);                           \
	}                                                                     \
	const char *prefix##_cipher_openssl(const type *s)                    \
	{                                                                     \
		return ks_core_cipher(&s->core, 1);                           \
	}                                                                     \
	int prefix##_cipher_desc(const type *s, struct kssl_cipher_desc *out) \
	{                                                                     \
		return ks_core_cipher_desc(&s->core, out);                    \
	}                                                                     \
	size_t prefix##_peer_cert_der(const type *s, const uint8_t **der)     \
	{                                                                     \
		return ks_core_peer_cert_der(&s->core, der);                  \
	}                                                                     \
	long prefix##_verify_result(const type *s)                            \
	{                                                                     \
		return ks_core_verify_result(&s->core);                       \
	}
/* Plaintext bytes buffered in OpenSSL (0 once the SSL is gone). */
size_t ks_core_pending(const struct ks_core *c);

/* ---- post-handshake authentication (src/pha.c) ------------------------ */

/* Why this conn must keep its records in OpenSSL for PHA, or NULL. */
const char *ks_pha_blocker(const kssl_conn *conn);
/* Servers that verify clients: notes whether the client offered PHA. */
int ks_pha_hello_cb(SSL *ssl, int *alert, void *arg);

/* ---- BIO over the fd (src/bio.c) --------------------------------------- */

KSSL_MUST_USE BIO *ks_bio_new(kssl_conn *conn);

/* ---- the SIGPIPE guard (src/sigpipe.c) --------------------------------- */

struct ks_sigpipe {
	int blocked;
	int was_pending;
};
void ks_sigpipe_block(struct ks_sigpipe *g);
void ks_sigpipe_restore(struct ks_sigpipe *g);
/* 1 if a SIGPIPE was raised since ks_sigpipe_block (it is still pending). */
int ks_sigpipe_raised(const struct ks_sigpipe *g);

#endif /* KSSL_INTERNAL_H */
