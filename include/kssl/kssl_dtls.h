/*
 * kssl DTLS — DTLS 1.2 over a UDP socket, in userspace OpenSSL.
 *
 * Linux has no kernel DTLS: kernel TLS (TCP_ULP "tls") exists for TCP only,
 * so every DTLS record is encrypted and decrypted by OpenSSL in this
 * process, and kssl_dtls_offload() always says so. What this header adds
 * over plain OpenSSL is the kssl way of doing it: the same contexts
 * (certificates, CAs, verification, ciphers: the kssl_ctx_* calls of
 * kssl.h apply), the same error convention and kssl_last_error() messages,
 * and the server side's cookie exchange and per-client socket done for you.
 *
 * Model:
 *   - client: the UDP socket is connected (connect(2)) to the server before
 *     kssl_dtls_new. Each kssl_dtls_send is one record in one datagram;
 *     each kssl_dtls_recv returns the plaintext of one record.
 *   - server: the UDP socket is bound and not connected. kssl_dtls_handshake
 *     first answers ClientHellos with HelloVerifyRequest (a stateless cookie:
 *     HMAC-SHA256 of the client's address and port under the context's
 *     cookie secret) until a ClientHello comes back with a valid cookie. It
 *     then connect(2)s the socket to that client — from then on the kernel
 *     delivers only that client's datagrams to it: the peer address is the
 *     session's identity — and completes the handshake. To serve the next
 *     client, bind another socket to the same address (SO_REUSEADDR or
 *     SO_REUSEPORT on both): the kernel prefers the connected socket for
 *     its client and gives new clients to the unconnected one.
 *   - DTLS 1.2 only (DTLS 1.0 is obsolete; OpenSSL 3.0 has no DTLS 1.3).
 *
 * Blocking: the socket's O_NONBLOCK flag decides, as for TLS connections.
 * On a blocking socket kssl_dtls_handshake / _recv wait themselves and
 * retransmit lost flights when the DTLS timer fires (DTLSv1_handle_timeout);
 * a signal interrupts the wait with KSSL_E_INTR, as for TLS (call again
 * to go on; kssl_last_errno() is EINTR). On a non-blocking socket they return KSSL_E_WANT_READ:
 * wait for the socket at most kssl_dtls_timeout_ms() and call
 * kssl_dtls_handle_timeout() when that time has passed.
 *
 * Socket I/O goes through OpenSSL's datagram BIO (BIO_s_datagram), not
 * through kssl's syscall table.
 *
 * Threads: as kssl_conn, a kssl_dtls belongs to one thread at a time.
 */
#ifndef KSSL_KSSL_DTLS_H
#define KSSL_KSSL_DTLS_H

#include <sys/socket.h>

#include "kssl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kssl_dtls kssl_dtls;

/* Negotiated version reported by kssl_dtls_version (DTLS1_2_VERSION). */
#define KSSL_DTLS1_2 0xFEFD

/*
 * kssl_dtls_ctx_new creates a DTLS context with kssl_ctx_new's defaults
 * (clients verify the server against the system CAs and check its name;
 * SSLKEYLOGFILE honoured). Servers get a fresh random 32-byte cookie secret.
 * Free it with kssl_ctx_free. The kssl_ctx_* calls for certificates, CAs,
 * verification, host name checking, ciphers, password and key log apply.
 * Do not call kssl_ctx_set_versions: its TLS version numbers mean nothing
 * to a DTLS SSL_CTX (DTLS contexts are DTLS 1.2 only, and OpenSSL refuses
 * some values with KSSL_E_INVAL). kssl_ctx_set_ciphersuites (TLS 1.3),
 * kssl_ctx_set_alpn, kssl_ctx_set_sni_cb and the session and offload
 * settings have no effect on DTLS sessions. A DTLS context makes kssl_dtls
 * sessions only: do not pass it to kssl_conn_new. Returns NULL on failure.
 */
KSSL_API KSSL_MUST_USE kssl_ctx *kssl_dtls_ctx_new(enum kssl_role role);

/* kssl_ctx_is_dtls returns 1 for contexts from kssl_dtls_ctx_new, else 0. */
KSSL_API int kssl_ctx_is_dtls(const kssl_ctx *ctx);

/*
 * kssl_dtls_ctx_set_cookie_secret replaces a server context's cookie secret
 * (16..64 bytes; copied). Servers that share a port across processes set the
 * same secret in each; setting a new one rotates it (cookies issued under
 * the old secret are then refused and the client is asked again). Configure
 * it before creating sessions (see kssl.h, "Threads").
 */
KSSL_API KSSL_MUST_USE int kssl_dtls_ctx_set_cookie_secret(kssl_ctx *ctx, const void *secret,
				    size_t len);

/*
 * kssl_dtls_new makes a DTLS session on the UDP socket `fd` (connected for
 * clients, bound for servers; see "Model"). The fd stays owned by the caller;
 * the session holds a reference on ctx. NULL on failure.
 */
KSSL_API KSSL_MUST_USE kssl_dtls *kssl_dtls_new(kssl_ctx *ctx, int fd);

/* kssl_dtls_free frees the session (no close_notify is sent); NULL ignored. */
KSSL_API void kssl_dtls_free(kssl_dtls *d);

/* Clients: SNI and the name checked against the certificate (as TLS). */
KSSL_API KSSL_MUST_USE int kssl_dtls_set_hostname(kssl_dtls *d, const char *name);

/*
 * kssl_dtls_handshake runs or continues the handshake (for servers,
 * including the cookie exchange and the connect(2) to the client). Returns 0
 * when done (and again on later calls), KSSL_E_WANT_READ/WRITE on a
 * non-blocking socket, or an error (KSSL_E_CERT, KSSL_E_ALERT, KSSL_E_TLS,
 * KSSL_E_SYSCALL, ...; KSSL_E_TLS "read timeout expired" when the peer
 * stopped answering retransmissions).
 */
KSSL_API KSSL_MUST_USE int kssl_dtls_handshake(kssl_dtls *d);

/*
 * kssl_dtls_send sends len bytes as one record (one datagram). Returns len,
 * KSSL_E_WANT_WRITE, or an error: KSSL_E_INVAL (the session stays usable)
 * when len exceeds what one record carries, 16384 bytes; a datagram larger
 * than the path MTU is the IP layer's to fragment or refuse (EMSGSIZE). A
 * len of 0 sends nothing. The handshake runs first if it has not.
 */
KSSL_API KSSL_MUST_USE ssize_t kssl_dtls_send(kssl_dtls *d, const void *buf, size_t len);

/*
 * kssl_dtls_recv returns the plaintext of the next record (at most len
 * bytes; the rest of a larger record is returned by the next call), 0 when
 * the peer sent close_notify, KSSL_E_WANT_READ, or an error. Records that
 * fail authentication are dropped silently, as DTLS requires (RFC 6347,
 * 4.1.2.7). The handshake runs first if it has not.
 */
KSSL_API KSSL_MUST_USE ssize_t kssl_dtls_recv(kssl_dtls *d, void *buf, size_t len);

/*
 * kssl_dtls_shutdown sends close_notify (once). Returns 1 if the peer's
 * close_notify was already received, else 0; DTLS does not wait for it (a
 * lost datagram would make that wait forever).
 */
KSSL_API KSSL_MUST_USE int kssl_dtls_shutdown(kssl_dtls *d);

/*
 * kssl_dtls_timeout_ms: milliseconds until the DTLS retransmission timer
 * fires (0 if it is due now), or -1 if no timer runs. Non-blocking callers
 * wait for the socket at most this long.
 */
KSSL_API int kssl_dtls_timeout_ms(kssl_dtls *d);

/*
 * kssl_dtls_handle_timeout retransmits the last flight if the timer is due
 * (DTLSv1_handle_timeout). Returns 1 if it retransmitted, 0 if nothing was
 * due, or an error (KSSL_E_TLS after too many retransmissions).
 */
KSSL_API KSSL_MUST_USE int kssl_dtls_handle_timeout(kssl_dtls *d);

/* Bytes of a record's plaintext kssl_dtls_recv returns without reading. */
KSSL_API size_t kssl_dtls_pending(const kssl_dtls *d);

/*
 * kssl_dtls_peer copies the peer's address (clients: the server's; servers:
 * the client's once the cookie exchange is done) into *addr and its length
 * into *len. KSSL_E_INVAL before a server knows its client.
 */
KSSL_API KSSL_MUST_USE int kssl_dtls_peer(const kssl_dtls *d, struct sockaddr_storage *addr,
		   socklen_t *len);

/* KSSL_DTLS1_2 after the handshake, 0 before. */
KSSL_API int kssl_dtls_version(const kssl_dtls *d);
/* Negotiated cipher in IANA and OpenSSL naming (NULL before handshake). */
KSSL_API const char *kssl_dtls_cipher(const kssl_dtls *d);
KSSL_API const char *kssl_dtls_cipher_openssl(const kssl_dtls *d);
/* The negotiated suite as kssl_conn_cipher_desc (kssl.h) gives it: 0, or
 * KSSL_E_INVAL before the handshake finished. */
KSSL_API KSSL_MUST_USE int kssl_dtls_cipher_desc(const kssl_dtls *d,
						 struct kssl_cipher_desc *out);
/* The peer's certificate as DER (session-owned), 0 if it sent none. */
KSSL_API size_t kssl_dtls_peer_cert_der(const kssl_dtls *d, const uint8_t **der);
/* X.509 verification result of the peer certificate (0 = ok, X509_V_*). */
KSSL_API long kssl_dtls_verify_result(const kssl_dtls *d);

/*
 * kssl_dtls_offload is kssl_conn_offload for DTLS: always
 * KSSL_STATE_USER, with a reason naming why (no kernel DTLS).
 */
KSSL_API enum kssl_offload_state kssl_dtls_offload(const kssl_dtls *d,
					  enum kssl_dir dir,
					  const char **reason);

/* kssl_dtls_fd returns the UDP socket given to kssl_dtls_new. */
KSSL_API int kssl_dtls_fd(const kssl_dtls *d);

/* The OpenSSL `SSL *` of the session (DTLS never frees it early). */
KSSL_API void *kssl_dtls_ssl(kssl_dtls *d);

#ifdef __cplusplus
}
#endif

#endif /* KSSL_KSSL_DTLS_H */
