/*
 * kssl — TLS handshakes in OpenSSL, record encryption in the Linux kernel.
 *
 * A kssl_conn runs the TLS handshake with OpenSSL in userspace. When the
 * handshake is done, kssl derives the record keys itself and installs them
 * into kernel TLS (TCP_ULP "tls", SOL_TLS TLS_TX / TLS_RX), one direction at
 * a time. From then on plain write(2), sendfile(2) and splice(2) on the socket
 * produce TLS records, and read(2) returns plaintext. Where the kernel cannot
 * take a direction, the same calls keep working through OpenSSL and
 * kssl_conn_offload() says why.
 *
 * Error convention (used by every call in this header):
 *   - calls that return int return 0 (or a documented non-negative value) on
 *     success and a negative KSSL_E_* code on failure;
 *   - I/O calls return ssize_t: the number of bytes moved (>= 0), or a
 *     negative KSSL_E_* code;
 *   - calls that return a pointer return NULL on failure.
 * After any failure kssl_last_error() gives a one-line message that names the
 * cause (OpenSSL reason, errno text, TLS alert, or offload reason), and
 * kssl_last_reason() / kssl_last_detail() / kssl_last_errno() /
 * kssl_last_openssl_error() give the same cause as numbers: branch on
 * those, never on the text. All are per thread and valid until the next
 * kssl call on that thread. Every call in this header, kssl_dtls.h and
 * kssl_uring.h follows this convention, including KSSL_E_INTR for a signal.
 *
 * Threads: a kssl_ctx may be shared by many threads once it is configured
 * (configure it before creating connections). A kssl_conn belongs to one
 * thread at a time.
 */
#ifndef KSSL_KSSL_H
#define KSSL_KSSL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KSSL_VERSION_STRING "0.1.0"

/*
 * KSSL_MUST_USE marks calls whose result says whether they worked: the
 * compiler warns when it is dropped. To drop one on purpose (best-effort
 * close_notify, say), write `(void)!kssl_shutdown(c);` — GCC does not
 * accept a plain (void) cast for this attribute.
 */
#if defined(__GNUC__) || defined(__clang__)
#define KSSL_MUST_USE __attribute__((warn_unused_result))
#else
#define KSSL_MUST_USE
#endif

/*
 * KSSL_API marks the exported calls. libkssl is built with
 * -fvisibility=hidden, so everything else stays inside the library (and
 * src/kssl.map still limits the shared library to kssl_*).
 */
#if defined(__GNUC__) || defined(__clang__)
#define KSSL_API __attribute__((visibility("default")))
#else
#define KSSL_API
#endif

/* ---- errors ------------------------------------------------------------ */

enum kssl_error {
	KSSL_OK = 0,
	KSSL_E_WANT_READ = -1,   /* non-blocking: wait until the fd is readable */
	KSSL_E_WANT_WRITE = -2,  /* non-blocking: wait until the fd is writable */
	KSSL_E_SYSCALL = -3,     /* a system call failed; message has errno text */
	KSSL_E_TLS = -4,         /* TLS protocol error (bad record, bad MAC, ...) */
	KSSL_E_CERT = -5,        /* certificate verification failed */
	KSSL_E_ALERT = -6,       /* the peer sent a fatal alert */
	KSSL_E_EOF = -7,         /* peer closed without close_notify */
	KSSL_E_INVAL = -8,       /* bad argument or call in the wrong state */
	KSSL_E_NOMEM = -9,       /* out of memory */
	KSSL_E_FILE = -10,       /* bad key/cert/CA file or data */
	KSSL_E_SHORT_FILE = -11, /* kssl_sendfile: file ended before count */
	KSSL_E_REKEY = -12,      /* TLS 1.3 KeyUpdate the kernel cannot follow */
	KSSL_E_CLOSED = -13,     /* connection already failed or shut down */
	KSSL_E_INTR = -14,       /* a signal interrupted a blocking call:
				    nothing was lost, call again */
};

/*
 * Reasons: a stable, finer cause under the KSSL_E_* class of the last
 * failure. Programs branch on (code, reason, detail), never on message
 * text, which may be reworded at any release. New reasons may be added;
 * existing numbers never change.
 */
enum kssl_reason {
	KSSL_R_NONE = 0,            /* no finer cause recorded */
	KSSL_R_ERRNO = 1,           /* a system call failed; detail = errno */
	KSSL_R_OPENSSL = 2,         /* OpenSSL named the cause; see
				       kssl_last_openssl_error() */
	KSSL_R_BAD_CERT_DATA = 3,   /* a certificate (chain) does not parse */
	KSSL_R_BAD_KEY_DATA = 4,    /* a private key does not parse (or the
				       password is wrong) */
	KSSL_R_KEY_MISMATCH = 5,    /* the key does not match the certificate */
	KSSL_R_BAD_CA_DATA = 6,     /* CA certificates do not parse or load */
	KSSL_R_PEER_ALERT = 7,      /* the peer sent a fatal alert;
				       detail = alert description (RFC 8446) */
	KSSL_R_VERIFY_FAILED = 8,   /* the peer certificate did not verify;
				       detail = X509_V_ERR_* code */
	KSSL_R_UNEXPECTED_EOF = 9,  /* transport closed without close_notify */
	KSSL_R_KERNEL_RECORD = 10,  /* kernel TLS rejected a received record;
				       detail = the alert kssl sent (20, 22, 50) */
	KSSL_R_KEY_UPDATE = 11,     /* the peer re-keyed (TLS 1.3 KeyUpdate)
				       and the kernel cannot follow */
	KSSL_R_UNEXPECTED_MESSAGE = 12, /* a record or message not allowed
				       after the handshake */
	KSSL_R_FAILED_EARLIER = 13, /* the connection failed before; detail =
				       the KSSL_E_* code of that first failure */
	KSSL_R_SHUT_DOWN = 14,      /* this side already sent close_notify */
	KSSL_R_PEER_CLOSED = 15,    /* the peer sent close_notify; no more
				       data may be written */
	KSSL_R_BAD_ARGUMENT = 16,   /* an argument is out of range or missing */
	KSSL_R_WRONG_STATE = 17,    /* the call is not valid at this point */
	KSSL_R_INTERRUPTED = 18,    /* a signal (with KSSL_E_INTR) */
};

/*
 * kssl_last_error returns the message of the last failure on this thread
 * ("" if none). The string is owned by kssl. It is for people (logs,
 * exception text): its wording is not stable.
 */
KSSL_API const char *kssl_last_error(void);

/*
 * kssl_last_errno returns the errno behind the last failure on this thread
 * when it came from a system call (KSSL_E_SYSCALL, KSSL_E_INTR, some
 * KSSL_E_FILE), else 0.
 */
KSSL_API int kssl_last_errno(void);

/* kssl_last_reason returns the enum kssl_reason of the last failure. */
KSSL_API int kssl_last_reason(void);

/*
 * kssl_last_detail returns the number that goes with the reason: the alert
 * description (KSSL_R_PEER_ALERT, KSSL_R_KERNEL_RECORD), the X509_V_ERR_*
 * code (KSSL_R_VERIFY_FAILED), the errno (KSSL_R_ERRNO), the first
 * failure's KSSL_E_* code (KSSL_R_FAILED_EARLIER); else 0.
 */
KSSL_API long kssl_last_detail(void);

/*
 * kssl_last_openssl_error returns OpenSSL's packed error code (take it
 * apart with ERR_GET_LIB / ERR_GET_REASON) of the error queue entry that
 * named the cause of the last failure, or 0 when OpenSSL named none. kssl
 * clears OpenSSL's queue; this is the copy.
 */
KSSL_API unsigned long kssl_last_openssl_error(void);

/* All of the above at once, copied: for callers that report later. */
struct kssl_error_info {
	int code;                 /* KSSL_E_* of the failure (0 if none) */
	int reason;               /* enum kssl_reason */
	long detail;              /* kssl_last_detail() */
	int sys_errno;            /* kssl_last_errno() */
	unsigned long openssl_error; /* kssl_last_openssl_error() */
	char message[512];        /* kssl_last_error() */
};

/*
 * kssl_last_error_info fills *out with the last failure recorded on this
 * thread. Its code is the one recorded with the message; KSSL_E_WANT_*
 * results record nothing, so a caller holding a call's result should
 * store that result in out->code.
 */
KSSL_API void kssl_last_error_info(struct kssl_error_info *out);

/*
 * kssl_set_error records a failure in this thread's error state, as kssl's
 * own calls do, and returns code. It is for libraries built on kssl (such
 * as kssl_uring) that follow the same convention. sys_errno != 0 appends
 * ": <strerror>" to the message and sets kssl_last_errno(); the OpenSSL
 * error is cleared. fmt is printf-style.
 */
KSSL_API int kssl_set_error(int code, int reason, long detail, int sys_errno,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* kssl_error_name returns "KSSL_E_TLS" etc. for a code (static string). */
KSSL_API const char *kssl_error_name(int code);

/* kssl_reason_name returns "KSSL_R_PEER_ALERT" etc. (static string). */
KSSL_API const char *kssl_reason_name(int reason);

/* ---- contexts ---------------------------------------------------------- */

typedef struct kssl_ctx kssl_ctx;
typedef struct kssl_conn kssl_conn;

enum kssl_role {
	KSSL_CLIENT = 0,
	KSSL_SERVER = 1,
};

enum kssl_verify {
	KSSL_VERIFY_NONE = 0,     /* do not check the peer's certificate */
	KSSL_VERIFY_OPTIONAL = 1, /* check it if the peer sends one */
	KSSL_VERIFY_REQUIRED = 2, /* the peer must send a valid certificate */
};

enum kssl_tls_version {
	KSSL_TLS1_0 = 0x0301, /* userspace only: see kssl_ctx_set_versions */
	KSSL_TLS1_1 = 0x0302, /* userspace only: see kssl_ctx_set_versions */
	KSSL_TLS1_2 = 0x0303,
	KSSL_TLS1_3 = 0x0304,
};

enum kssl_format {
	KSSL_FORMAT_PEM = 0,
	KSSL_FORMAT_DER = 1,
};

/*
 * kssl_ctx_new creates a context with the secure defaults of CPython's
 * ssl.create_default_context(): clients verify the peer certificate against
 * the system CAs and check the host name; servers do not ask for client
 * certificates; TLS >= 1.2; no compression; no renegotiation. If the
 * SSLKEYLOGFILE environment variable is set, secrets are appended to that
 * file (as CPython does); otherwise no secret is ever written anywhere.
 * Returns NULL on failure. Free with kssl_ctx_free.
 */
KSSL_API KSSL_MUST_USE kssl_ctx *kssl_ctx_new(enum kssl_role role);

/*
 * kssl_ctx_new_ex is kssl_ctx_new with some of its defaults left out, for
 * bindings that apply another library's rules (the Python module: a
 * stdlib ssl.SSLContext starts with an empty trust store and logs keys
 * only when told). flags: KSSL_CTX_* or'ed; 0 is kssl_ctx_new.
 */
enum kssl_ctx_flags {
	KSSL_CTX_NO_ENV = 1 << 0,        /* ignore SSLKEYLOGFILE */
	KSSL_CTX_NO_SYSTEM_CAS = 1 << 1, /* clients: start with no trust anchors */
	/* servers: no built-in DHE group, so DHE suites are chosen only after
	 * kssl_ctx_load_dh_params (CPython's rule) */
	KSSL_CTX_NO_DH_AUTO = 1 << 2,
};
KSSL_API KSSL_MUST_USE kssl_ctx *kssl_ctx_new_ex(enum kssl_role role, unsigned flags);

/* kssl_ctx_free drops one reference; NULL is ignored. */
KSSL_API void kssl_ctx_free(kssl_ctx *ctx);

/* kssl_ctx_up_ref adds a reference (for sharing between owners). */
KSSL_API void kssl_ctx_up_ref(kssl_ctx *ctx);

/* kssl_ctx_role returns the role the context was made for. */
KSSL_API enum kssl_role kssl_ctx_role(const kssl_ctx *ctx);

/*
 * Password callback for encrypted private keys: writes at most size bytes of
 * the password into buf and returns its length, or -1 to fail.
 */
typedef int (*kssl_password_cb)(char *buf, int size, void *arg);
KSSL_API void kssl_ctx_set_password_cb(kssl_ctx *ctx, kssl_password_cb cb, void *arg);

/*
 * Certificate chain and private key. From files: the chain file holds the
 * leaf first (PEM may hold the key too, then key_path may be NULL). From
 * memory: PEM text or DER bytes as `format` says (DER: one certificate, the
 * leaf; extra chain certificates via kssl_ctx_add_chain_cert_mem). The key
 * must match the certificate or KSSL_E_FILE is returned.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_use_cert_file(kssl_ctx *ctx, const char *chain_path,
			   const char *key_path);
KSSL_API KSSL_MUST_USE int kssl_ctx_use_cert_mem(kssl_ctx *ctx, const void *cert, size_t cert_len,
			  const void *key, size_t key_len,
			  enum kssl_format format);
KSSL_API KSSL_MUST_USE int kssl_ctx_add_chain_cert_mem(kssl_ctx *ctx, const void *cert, size_t len,
				enum kssl_format format);

/*
 * kssl_ctx_set_ocsp_response (server contexts): staple this DER OCSP
 * response (RFC 6960) in the handshake of every client that asks for one
 * (the status_request extension); clients that do not ask get nothing.
 * The bytes are copied; they must parse as an OCSP response whose status
 * is "successful", else KSSL_E_FILE. Whether it matches the certificate
 * and is still fresh is the caller's business (refresh it before its
 * nextUpdate). der NULL or len 0 stops stapling. Like the other setters,
 * call it before connections use the context; to replace the response of
 * a context in use, build a new context (as `kssl serve` does on SIGHUP).
 */
int kssl_ctx_set_ocsp_response(kssl_ctx *ctx, const void *der, size_t len);

/*
 * Trust anchors for verifying the peer. cafile: PEM bundle; capath: hashed
 * directory (c_rehash); mem: PEM text (one or more certificates) or DER bytes
 * (one or more concatenated certificates). kssl_ctx_load_default_cas loads
 * the system default store (also done by kssl_ctx_new for clients).
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_load_ca_file(kssl_ctx *ctx, const char *cafile);
KSSL_API KSSL_MUST_USE int kssl_ctx_load_ca_dir(kssl_ctx *ctx, const char *capath);
KSSL_API KSSL_MUST_USE int kssl_ctx_load_ca_mem(kssl_ctx *ctx, const void *data, size_t len,
			 enum kssl_format format);
KSSL_API KSSL_MUST_USE int kssl_ctx_load_default_cas(kssl_ctx *ctx);
/*
 * kssl_ctx_clear_cas drops every trust anchor loaded so far (a fresh,
 * empty store; the kssl_ctx_load_* calls add to it again). Returns 0 or
 * KSSL_E_NOMEM.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_clear_cas(kssl_ctx *ctx);

/*
 * Whether and how the peer's certificate is checked (clients default to
 * KSSL_VERIFY_REQUIRED, servers to KSSL_VERIFY_NONE); get returns it.
 */
KSSL_API void kssl_ctx_set_verify(kssl_ctx *ctx, enum kssl_verify mode);
KSSL_API enum kssl_verify kssl_ctx_get_verify(const kssl_ctx *ctx);
/* Clients: check the certificate names the server_name given to the conn. */
KSSL_API void kssl_ctx_set_check_hostname(kssl_ctx *ctx, int on);
KSSL_API int kssl_ctx_get_check_hostname(const kssl_ctx *ctx);

/*
 * Version range, as OpenSSL's SSL_CTX_set_min/max_proto_version: a
 * KSSL_TLS1_* value (0x0300, SSL 3.0, is also taken, for OpenSSL builds
 * that have it) or 0 = no limit on that side, except that a minimum of 0
 * keeps the TLS 1.2 floor every context starts with. Only an explicit
 * minimum below KSSL_TLS1_2 lets OpenSSL offer or accept TLS 1.0/1.1 (its
 * OP_NO_* options and security level still apply); a connection that
 * negotiates one stays in userspace both ways, with an offload reason
 * saying so (kernel TLS carries TLS 1.2 and 1.3 only). A minimum above
 * the maximum is taken, as OpenSSL takes it: handshakes then fail in
 * OpenSSL (NO_PROTOCOLS_AVAILABLE), as those of a CPython ssl context with
 * such bounds. KSSL_E_INVAL for another value. Not for DTLS contexts.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_versions(kssl_ctx *ctx, int min_version, int max_version);

/*
 * kssl_ctx_set_fixed_version puts the context on OpenSSL's method for
 * exactly one version (KSSL_TLS1_0, _1_1 or _1_2: TLSv1_2_method() and the
 * like, what CPython's PROTOCOL_TLSv1_2 ... contexts use). Unlike
 * kssl_ctx_set_versions(v, v), the version bounds and OP_NO_TLSv1* options
 * are then ignored and a peer of another version fails as it does against
 * such a method (WRONG_SSL_VERSION, NO_SHARED_CIPHER, ...). TLS 1.0/1.1
 * connections stay in userspace (see kssl_ctx_set_versions). Resets the
 * cipher lists to OpenSSL's defaults: call it before kssl_ctx_set_ciphers.
 * KSSL_E_INVAL for another version. Not for DTLS contexts.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_fixed_version(kssl_ctx *ctx, int version);

/*
 * kssl_ctx_load_dh_params (servers): TLS 1.2 DHE suites use the group in
 * this PEM file ("-----BEGIN DH PARAMETERS-----", as `openssl dhparam`
 * writes and CPython's SSLContext.load_dh_params reads) instead of
 * OpenSSL's built-in group sized to the key. KSSL_E_FILE if the file cannot
 * be read, holds no DH parameters, or the group is below the context's
 * security level (OpenSSL's reason in the message). Clients ignore it.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_load_dh_params(kssl_ctx *ctx, const char *path);

/* OpenSSL cipher string (TLS 1.2) and ciphersuite list (TLS 1.3). */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_ciphers(kssl_ctx *ctx, const char *tls12_list);
KSSL_API KSSL_MUST_USE int kssl_ctx_set_ciphersuites(kssl_ctx *ctx, const char *tls13_list);

/*
 * OpenSSL security level 0..5 (SSL_CTX_set_security_level: minimum key
 * sizes and digests the context accepts; OpenSSL 3.0 defaults to 1).
 * OpenSSL treats levels above 5 as 5 and below 0 as 0.
 */
KSSL_API void kssl_ctx_set_security_level(kssl_ctx *ctx, int level);

/*
 * Key exchange groups in preference order, OpenSSL's colon-separated
 * names ("X25519:P-256"). KSSL_E_INVAL if a name is unknown (the context
 * keeps its groups).
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_groups(kssl_ctx *ctx, const char *list);

/*
 * ALPN, as protocol names in preference order. Clients offer them; servers
 * pick their first protocol that the client also offers (none in common:
 * the handshake goes on without ALPN, as CPython does).
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_alpn(kssl_ctx *ctx, const char *const *protos, size_t n);

/*
 * Server name indication for servers: cb is called with the name the client
 * sent (NULL if none) and may switch the connection to another context with
 * kssl_conn_set_ctx. Return 0 to go on, or a TLS alert number (e.g. 112,
 * unrecognized_name) to abort the handshake with that alert.
 */
typedef int (*kssl_sni_cb)(kssl_conn *conn, const char *server_name,
			   void *arg);
KSSL_API void kssl_ctx_set_sni_cb(kssl_ctx *ctx, kssl_sni_cb cb, void *arg);

/*
 * Protocol message tracing (OpenSSL's message callback, as CPython's
 * SSLContext._msg_callback): cb sees each TLS message and record header
 * that OpenSSL sends (write_p 1) or receives (0) on the context's
 * connections, with OpenSSL's version and content_type numbers (256 =
 * record header, 257 = TLS 1.3 inner content type) and the bytes. It runs
 * inside kssl_handshake/read/write/shutdown on the calling thread. Records
 * a direction carries in the kernel after offload never reach OpenSSL, so
 * they are not reported. NULL turns it off; it applies to connections made
 * (or switched to the context) afterwards.
 */
typedef void (*kssl_msg_cb)(kssl_conn *conn, int write_p, int version, int content_type,
			    const void *buf, size_t len, void *arg);
KSSL_API void kssl_ctx_set_msg_cb(kssl_ctx *ctx, kssl_msg_cb cb, void *arg);

/*
 * Session resumption. Servers issue `n` TLS 1.3 tickets per handshake
 * (default 2; 0 turns tickets off and TLS 1.2 tickets with it). Clients keep
 * sessions only when kssl_ctx_set_client_sessions(ctx, 1) was called:
 * then the kernel takes the receive direction only once the server's
 * tickets have been read by OpenSSL (see docs/design.md, "Tickets").
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_num_tickets(kssl_ctx *ctx, size_t n);
KSSL_API void kssl_ctx_set_client_sessions(kssl_ctx *ctx, int on);

/*
 * Append TLS secrets in NSS key log format to path (for Wireshark). A new
 * context starts with $SSLKEYLOGFILE (unless setuid); path NULL stops
 * logging, that one included.
 */
KSSL_API KSSL_MUST_USE int kssl_ctx_set_keylog_file(kssl_ctx *ctx, const char *path);

/* Which directions kssl may move into the kernel. */
enum kssl_offload_mode {
	KSSL_OFFLOAD_BOTH = 0, /* default */
	KSSL_OFFLOAD_TX = 1,   /* transmit only, receive stays in OpenSSL */
	KSSL_OFFLOAD_RX = 2,   /* receive only */
	KSSL_OFFLOAD_NONE = 3, /* everything in OpenSSL */
};
KSSL_API void kssl_ctx_set_offload(kssl_ctx *ctx, enum kssl_offload_mode mode);

/*
 * kssl_ctx_set_read_ahead (on = 1) lets OpenSSL read all the socket holds
 * in one recv, not a header and a body per record, on connections whose
 * receive direction stays in userspace: the kernel has no tls ULP, or the
 * offload mode keeps RX in OpenSSL. A TLS 1.3 handshake and request then
 * take about five fewer system calls on the server. Where RX may move to
 * the kernel it has no effect: the switch needs the socket at a record
 * boundary. With it on, a whole record can wait inside OpenSSL while the
 * socket is empty: poll for readability only when kssl_conn_rx_buffered()
 * is 0. Off by default (a program that polls after every read, such as
 * one written for Python's ssl module, would wait for nothing).
 */
KSSL_API void kssl_ctx_set_read_ahead(kssl_ctx *ctx, int on);

/*
 * kssl_ctx_ssl_ctx exposes the underlying OpenSSL SSL_CTX (a `SSL_CTX *`) for
 * settings this API does not cover. Do not enable SSL_OP_ENABLE_KTLS or
 * change the keylog/message callbacks: kssl owns them.
 */
KSSL_API void *kssl_ctx_ssl_ctx(kssl_ctx *ctx);

/* ---- connections ------------------------------------------------------- */

/*
 * kssl_conn_new makes a connection on a connected TCP socket `fd`. The fd
 * stays owned by the caller (kssl never closes it) and may be blocking or
 * non-blocking. The conn holds a reference on ctx.
 */
KSSL_API KSSL_MUST_USE kssl_conn *kssl_conn_new(kssl_ctx *ctx, int fd);

/* kssl_conn_free frees the conn (no close_notify is sent); NULL ignored. */
KSSL_API void kssl_conn_free(kssl_conn *conn);

/* Clients: SNI and the name checked against the certificate. */
KSSL_API KSSL_MUST_USE int kssl_conn_set_hostname(kssl_conn *conn, const char *name);

/*
 * Servers, from the SNI callback: continue with another context. Its
 * certificate and key, verify mode and depth, and offload mode apply to
 * this connection; what OpenSSL copied into the connection when it was
 * created (version range, cipher lists, options) stays the first one's.
 */
KSSL_API KSSL_MUST_USE int kssl_conn_set_ctx(kssl_conn *conn, kssl_ctx *ctx);

/* Per-connection override of kssl_ctx_set_offload (before the handshake). */
KSSL_API void kssl_conn_set_offload(kssl_conn *conn, enum kssl_offload_mode mode);

/* Opaque data for the caller. */
KSSL_API void kssl_conn_set_data(kssl_conn *conn, void *data);
KSSL_API void *kssl_conn_get_data(const kssl_conn *conn);

/* kssl_conn_fd returns the socket given to kssl_conn_new. */
KSSL_API int kssl_conn_fd(const kssl_conn *conn);

/*
 * kssl_handshake runs (or continues) the handshake. Returns 0 when it is
 * done and the offload decision has been made, KSSL_E_WANT_READ/WRITE on a
 * non-blocking socket, or an error. Calling it again after success is a
 * no-op returning 0.
 */
KSSL_API KSSL_MUST_USE int kssl_handshake(kssl_conn *conn);

/*
 * kssl_read reads plaintext. Returns the number of bytes (> 0), 0 when the
 * peer sent close_notify, KSSL_E_WANT_READ, KSSL_E_EOF when the transport
 * closed without close_notify, KSSL_E_ALERT when the peer sent a fatal
 * alert (named in the message), KSSL_E_TLS on a bad record (in the kernel or
 * in OpenSSL), KSSL_E_REKEY when the peer re-keys and the kernel cannot,
 * KSSL_E_SYSCALL (peer reset), KSSL_E_CLOSED (failed earlier) or
 * KSSL_E_INTR (a signal; call again). With RX in OpenSSL a read may also
 * need to write (KSSL_E_WANT_WRITE). KSSL_E_EOF ends the receive direction
 * only: later reads return it again, while writes (and kssl_shutdown) go
 * on as long as the socket takes them (the peer may have half-closed).
 * After any other error but WANT_* and INTR the connection is failed.
 */
KSSL_API KSSL_MUST_USE ssize_t kssl_read(kssl_conn *conn, void *buf, size_t len);

/*
 * kssl_write writes plaintext; returns the number of bytes taken (> 0; may
 * be short with kernel TX: non-blocking socket, SO_SNDTIMEO), or
 * KSSL_E_WANT_WRITE, KSSL_E_INTR, or an error — never 0 for len > 0.
 * With userspace TX, after KSSL_E_WANT_WRITE call again with the same
 * buffer and length (OpenSSL's rule).
 */
KSSL_API KSSL_MUST_USE ssize_t kssl_write(kssl_conn *conn, const void *buf, size_t len);

/*
 * kssl_sendfile sends `count` bytes of file_fd starting at `offset` (the
 * file position is not used or changed). With kernel TX the data goes
 * file -> kernel TLS without entering this process; otherwise it is read
 * and encrypted by OpenSSL. *sent (may be NULL) receives the bytes sent by
 * this call in every case. Returns 0 when all `count` bytes went out,
 * KSSL_E_WANT_WRITE (non-blocking) or KSSL_E_INTR (a signal) — call again
 * with offset += *sent and count -= *sent —, KSSL_E_SHORT_FILE when the file
 * ended first (it shrank or count was past EOF: the peer got *sent bytes,
 * no more, and no padding), KSSL_E_SYSCALL for a file error (the
 * connection stays usable) or a connection error (it is failed).
 *
 * SIGPIPE: sendfile(2) cannot be told MSG_NOSIGNAL, so kssl blocks SIGPIPE
 * around it. After a peer vanished, the kernel may still raise SIGPIPE
 * when the application close(2)s a kernel-TX socket with queued records;
 * long-running programs should ignore SIGPIPE (as CPython does).
 */
KSSL_API KSSL_MUST_USE int kssl_sendfile(kssl_conn *conn, int file_fd, off_t offset, size_t count,
		  size_t *sent);

/*
 * kssl_shutdown sends close_notify (once). Returns 1 if the peer's
 * close_notify was already received, 0 if not (read until kssl_read returns
 * 0 to wait for it), KSSL_E_WANT_WRITE, or an error.
 */
KSSL_API KSSL_MUST_USE int kssl_shutdown(kssl_conn *conn);

/* Bytes of plaintext kssl can return without reading the socket. */
KSSL_API size_t kssl_pending(const kssl_conn *conn);

/*
 * kssl_conn_rx_buffered returns 1 if received bytes wait inside kssl /
 * OpenSSL (decrypted plaintext or whole or partial records read from the
 * socket), so that polling the socket before the next kssl_read could wait
 * for nothing; 0 if not (always 0 with RX in the kernel).
 */
KSSL_API int kssl_conn_rx_buffered(const kssl_conn *conn);

/* ---- connection state -------------------------------------------------- */

enum kssl_dir {
	KSSL_DIR_TX = 0,
	KSSL_DIR_RX = 1,
};

enum kssl_offload_state {
	KSSL_STATE_PENDING = 0, /* decision not made yet (handshake running,
				   or RX waits for the server's tickets) */
	KSSL_STATE_KERNEL = 1,  /* records of this direction are kernel TLS */
	KSSL_STATE_USER = 2,    /* records of this direction are OpenSSL's */
};
/*
 * Deprecated spellings of the states (they shared the KSSL_OFFLOAD_ prefix
 * with enum kssl_offload_mode); kept so existing code compiles.
 */
#define KSSL_OFFLOAD_PENDING KSSL_STATE_PENDING
#define KSSL_OFFLOAD_KERNEL KSSL_STATE_KERNEL
#define KSSL_OFFLOAD_USER KSSL_STATE_USER

/*
 * kssl_conn_offload tells where a direction's records are processed. When
 * the answer is not KSSL_STATE_KERNEL and reason is not NULL, *reason is a
 * static or conn-owned string naming why (e.g. "kernel has no tls ULP
 * (CONFIG_TLS): setsockopt TCP_ULP: No such file or directory").
 */
KSSL_API enum kssl_offload_state kssl_conn_offload(const kssl_conn *conn,
					  enum kssl_dir dir,
					  const char **reason);

/* Negotiated version (KSSL_TLS1_*), 0 before the handshake. */
KSSL_API int kssl_conn_version(const kssl_conn *conn);
/* Negotiated cipher in IANA and OpenSSL naming (NULL before handshake). */
KSSL_API const char *kssl_conn_cipher(const kssl_conn *conn);
KSSL_API const char *kssl_conn_cipher_openssl(const kssl_conn *conn);
/* ALPN protocol selected (NULL if none); *len gets its length. */
KSSL_API const char *kssl_conn_alpn(const kssl_conn *conn, size_t *len);
/* Server: the SNI name the client sent (NULL if none). */
KSSL_API const char *kssl_conn_server_name(const kssl_conn *conn);
/*
 * tls-unique channel binding (RFC 5929): the first Finished message of the
 * handshake, kept after OpenSSL's SSL is freed. Copies at most size bytes
 * into buf (may be NULL to ask the length) and returns the full length, 0
 * before the handshake.
 */
KSSL_API size_t kssl_conn_tls_unique(const kssl_conn *conn, uint8_t *buf,
				     size_t size);
/* 1 if this handshake resumed a session. */
KSSL_API int kssl_conn_session_reused(const kssl_conn *conn);

/*
 * The peer's certificate as DER. Returns the length and points *der at
 * conn-owned memory, or 0 if the peer sent none. The DER is encoded at the
 * first call (the certificate is kept, not its DER); the memory stays
 * valid until the conn is freed or post-handshake authentication brings
 * a new certificate.
 */
KSSL_API size_t kssl_conn_peer_cert_der(const kssl_conn *conn, const uint8_t **der);
/*
 * X.509 verification result of the peer certificate (0 = ok, X509_V_*);
 * also valid after a handshake that failed with KSSL_E_CERT.
 */
KSSL_API long kssl_conn_verify_result(const kssl_conn *conn);

/* ---- what the handshake gave, for bindings (src/peerinfo.c) ----------- */

/*
 * A cipher suite as OpenSSL describes it. The strings are OpenSSL's static
 * tables: valid for the life of the process, never freed by the caller.
 */
struct kssl_cipher_desc {
	const char *name;      /* OpenSSL's name ("ECDHE-RSA-AES128-GCM-SHA256") */
	const char *iana_name; /* RFC name ("TLS_ECDHE_RSA_WITH_..."), NULL if none */
	const char *version;   /* protocol that introduced it, OpenSSL's spelling
				  ("TLSv1.2", "TLSv1.3", "TLSv1.0", "SSLv3") */
	int bits;              /* secret bits (SSL_CIPHER_get_bits) */
	int alg_bits;          /* bits of the algorithm */
	uint32_t id;           /* OpenSSL's id (0x03000000 | protocol_id) */
	uint16_t protocol_id;  /* the two bytes on the wire */
};

/*
 * kssl_conn_cipher_desc fills *out with the negotiated cipher suite, kept
 * at handshake end (so also after kssl freed the SSL). Returns 0, or
 * KSSL_E_INVAL (KSSL_R_WRONG_STATE) before the handshake finished.
 */
KSSL_API KSSL_MUST_USE int kssl_conn_cipher_desc(const kssl_conn *conn,
						 struct kssl_cipher_desc *out);

/*
 * What a conn keeps at handshake end beyond the accessors above, for
 * bindings that must answer after kssl freed the SSL (the Python module's
 * get_verified_chain() and shared_ciphers()). Nothing is kept unless asked
 * (a kssl serve connection pays nothing): call kssl_conn_set_keep_info
 * before the handshake with KSSL_KEEP_* or'ed. While the SSL lives the
 * accessors read OpenSSL's state; the copy is taken only when kssl frees
 * the SSL (both directions in the kernel), so a connection that stays in
 * userspace copies nothing. The kept data belongs to the conn and is freed
 * by kssl_conn_free.
 */
enum kssl_keep {
	KSSL_KEEP_CHAINS = 1 << 0,       /* the peer's chains (kssl_conn_chain_*) */
	KSSL_KEEP_CIPHER_LISTS = 1 << 1, /* both cipher lists (kssl_conn_cipher_at) */
};
KSSL_API void kssl_conn_set_keep_info(kssl_conn *conn, unsigned what);

/*
 * The peer's certificate chains, as CPython's
 * SSLSocket.get_verified_chain() / get_unverified_chain():
 * KSSL_CHAIN_VERIFIED is the chain OpenSSL built and verified (leaf to
 * root; none without verification or on a resumed session),
 * KSSL_CHAIN_SENT the certificates the peer sent, leaf first (a server's
 * also starts with the client's certificate, which OpenSSL leaves out of
 * its peer chain there; CPython's _ssl adds it the same way). Both are
 * OpenSSL's while the SSL lives, then as kept with KSSL_KEEP_CHAINS when
 * kssl freed it.
 *
 * kssl_conn_chain_count returns the number of certificates, or
 * KSSL_E_INVAL if there is no such chain (not kept, before the handshake,
 * the peer sent none). kssl_conn_chain_der gives certificate i (0 = leaf)
 * as DER in *out (malloc'd, the caller frees it with free()) and its
 * length in *len; returns 0, KSSL_E_INVAL (no such chain or i out of
 * range) or KSSL_E_NOMEM.
 */
enum kssl_chain {
	KSSL_CHAIN_VERIFIED = 0,
	KSSL_CHAIN_SENT = 1,
};
KSSL_API int kssl_conn_chain_count(const kssl_conn *conn, enum kssl_chain which);
KSSL_API KSSL_MUST_USE int kssl_conn_chain_der(const kssl_conn *conn,
					       enum kssl_chain which, size_t i,
					       uint8_t **out, size_t *len);

/*
 * Cipher lists, for computing CPython's shared_ciphers():
 * KSSL_CIPHERS_OWN is the conn's own list in preference order,
 * KSSL_CIPHERS_CLIENT (servers) the suites the client offered. They come
 * from OpenSSL while the SSL exists (the own list also before the
 * handshake), then from the copy kept when kssl freed it
 * (KSSL_KEEP_CIPHER_LISTS).
 *
 * kssl_conn_cipher_count returns the number of suites, or KSSL_E_INVAL if
 * the list is not available (a client's KSSL_CIPHERS_CLIENT, a server's
 * before the ClientHello, not kept and the SSL freed).
 * kssl_conn_cipher_at fills *out with suite i; returns 0 or KSSL_E_INVAL.
 */
enum kssl_cipher_list {
	KSSL_CIPHERS_OWN = 0,
	KSSL_CIPHERS_CLIENT = 1,
};
KSSL_API int kssl_conn_cipher_count(const kssl_conn *conn,
				    enum kssl_cipher_list which);
KSSL_API KSSL_MUST_USE int kssl_conn_cipher_at(const kssl_conn *conn,
					       enum kssl_cipher_list which,
					       size_t i, struct kssl_cipher_desc *out);

/*
 * kssl_cipher_table gives every cipher suite the loaded OpenSSL providers
 * can negotiate (an all-ciphers context at security level 0, TLS 1.3
 * suites first) that has an IANA name: *out is a malloc'd array of *n
 * descriptors (free it with free(); the strings are static). Bindings map
 * IANA names to OpenSSL's with it. Returns 0, KSSL_E_NOMEM or KSSL_E_TLS.
 */
KSSL_API KSSL_MUST_USE int kssl_cipher_table(struct kssl_cipher_desc **out,
					     size_t *n);

/*
 * Client sessions, serialized (DER of an SSL_SESSION). get: the session to
 * resume later (available after the server's tickets were read; may be
 * KSSL_E_INVAL if none yet); *out is malloc'd, free it with free().
 * set: resume it in the next kssl_handshake.
 */
KSSL_API KSSL_MUST_USE int kssl_conn_get_session(kssl_conn *conn, uint8_t **out, size_t *len);
KSSL_API KSSL_MUST_USE int kssl_conn_set_session(kssl_conn *conn, const uint8_t *der, size_t len);

/*
 * TLS 1.3 post-handshake client authentication (RFC 8446, 4.6.2), as
 * CPython's SSLContext.post_handshake_auth.
 *
 * kssl_ctx_set_post_handshake_auth(ctx, 1): a client offers it (the
 * post_handshake_auth extension); a server with client verification
 * (kssl_ctx_set_verify OPTIONAL/REQUIRED) then asks for the certificate
 * in TLS 1.3 only when kssl_conn_verify_client_post_handshake() is called
 * (TLS 1.2 still asks in the handshake). Set it before creating conns.
 *
 * kssl_conn_verify_client_post_handshake (servers, after the handshake):
 * the next kssl_write or kssl_read sends the CertificateRequest, and the
 * client's answer is read by the following kssl_read; its certificate is
 * then kssl_conn_peer_cert_der's. Returns 0, or KSSL_E_TLS with OpenSSL's
 * reason (connection unchanged): "wrong ssl version" (not TLS 1.3), "not
 * server", "still in init", "extension not received" (the client did not
 * offer it), "request pending" / "request sent" (one is under way),
 * "invalid config" (no client verification).
 *
 * Offload: the kernel cannot carry the exchange, so in TLS 1.3 a client
 * that offered it, and a server that may request it (it verifies clients
 * and the client offered it: OpenSSL allows the request with or without
 * the server's setting), keep both directions in OpenSSL for the whole
 * connection; kssl_conn_offload gives the reason ("post-handshake
 * authentication ...").
 */
int kssl_ctx_set_post_handshake_auth(kssl_ctx *ctx, int on);
int kssl_ctx_get_post_handshake_auth(const kssl_ctx *ctx);
int kssl_conn_verify_client_post_handshake(kssl_conn *conn);

/*
 * Client sessions as objects (no serialization): the same sessions as the
 * DER calls above, for keeping them in memory.
 *
 * kssl_conn_session returns the conn's current session with a new
 * reference (free it with kssl_session_free), or NULL if there is none
 * (handshake not started; a server conn whose OpenSSL state was released).
 * It is returned even when it cannot be resumed (yet): a TLS 1.3 client's
 * handshake session only becomes resumable with the server's tickets,
 * which arrive after the handshake; kssl_session_info() says which.
 * Clients keep their session after both directions moved to the kernel
 * only with kssl_ctx_set_client_sessions(ctx, 1).
 *
 * kssl_conn_resume offers `s` in the next kssl_handshake (clients only,
 * before the handshake starts; the conn takes its own reference). Whether
 * the server took it: kssl_conn_session_reused() after the handshake. A
 * session may be resumed on any client conn, of any context.
 */
typedef struct kssl_session kssl_session;
kssl_session *kssl_conn_session(kssl_conn *conn);
int kssl_conn_resume(kssl_conn *conn, kssl_session *s);
/* Reference counting: up_ref adds one, free drops one (NULL ignored). */
void kssl_session_up_ref(kssl_session *s);
void kssl_session_free(kssl_session *s);

/* What a session says about itself (the fields of CPython's SSLSession). */
struct kssl_session_info {
	uint8_t id[32];       /* session ID (TLS 1.3: derived from the ticket) */
	size_t id_len;        /* 0: none yet */
	int64_t time;         /* creation time, seconds since the epoch */
	int64_t timeout;      /* lifetime in seconds from `time` */
	uint32_t ticket_lifetime_hint; /* the server's hint, seconds */
	int has_ticket;       /* 1 if the server issued a ticket for it */
	int resumable;        /* 1 if kssl_conn_resume can resume it */
	int version;          /* KSSL_TLS1_2 / KSSL_TLS1_3 */
};
void kssl_session_info(const kssl_session *s, struct kssl_session_info *out);

/* A context's session counters (OpenSSL's SSL_CTX_sess_* values). */
struct kssl_session_stats {
	long number;          /* sessions in the server's cache */
	long connect, connect_good, connect_renegotiate; /* client handshakes */
	long accept, accept_good, accept_renegotiate;    /* server handshakes */
	long hits;            /* handshakes that resumed a session */
	long misses;          /* server: offered session not found */
	long timeouts;        /* server: offered session had expired */
	long cache_full;      /* server: sessions dropped, cache full */
};
void kssl_ctx_session_stats(kssl_ctx *ctx, struct kssl_session_stats *out);

/*
 * kssl_conn_ssl exposes the OpenSSL `SSL *` while it exists. kssl frees it
 * once both directions are in the kernel (its buffers and keys are no
 * longer needed); then this returns NULL.
 */
KSSL_API void *kssl_conn_ssl(kssl_conn *conn);

/* ---- kernel capabilities ----------------------------------------------- */

/*
 * kssl_kernel_has_tls returns 1 if the running kernel offers the "tls" TCP
 * ULP (reads /proc/sys/net/ipv4/tcp_available_ulp, falling back to trying
 * it on a socket), 0 if not.
 */
KSSL_API int kssl_kernel_has_tls(void);

#ifdef __cplusplus
}
#endif

#endif /* KSSL_KSSL_H */
