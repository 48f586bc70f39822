/*
 * Everything that talks SOL_TLS: which ciphers the kernel takes, record keys
 * from OpenSSL's secrets, installing them, and control records once a
 * direction is in the kernel. Private to libkssl.
 */
#ifndef KSSL_KTLS_H
#define KSSL_KTLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "kssl/kssl.h" /* KSSL_MUST_USE */

#include "ktls/wire.h"

/* The kernel's crypto_info for one direction, any supported AEAD. */
struct ktls_crypto {
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 gcm128;
		struct tls12_crypto_info_aes_gcm_256 gcm256;
		struct tls12_crypto_info_aes_ccm_128 ccm128;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
	} u;
	size_t len; /* bytes of u to hand to setsockopt */
};

/*
 * ktls_cipher_type returns the kernel's TLS_CIPHER_* for the negotiated
 * cipher, or 0 with *why naming the reason it cannot be offloaded.
 */
KSSL_MUST_USE int ktls_cipher_type(const SSL_CIPHER *cipher, const char **why);

/*
 * ktls_derive fills *out with the keys of one direction.
 * TLS 1.3: `secret` is that direction's application traffic secret.
 * TLS 1.2: `secret` is unused; the key block comes from the session's master
 * secret. `seq` is the sequence number of the next record. Returns 0, or -1
 * with *why set. Intermediate key material is wiped before returning.
 */
KSSL_MUST_USE int ktls_derive(SSL *ssl, int is_tx, const unsigned char *secret,
		size_t secret_len, uint64_t seq, struct ktls_crypto *out,
		const char **why);

/* Attach the "tls" ULP. Returns 0 or -errno. */
KSSL_MUST_USE int ktls_attach_ulp(int fd);

/*
 * Install one direction (TLS_TX or TLS_RX). *ci is wiped whatever happens.
 * Returns 0 or -errno. Once it returns 0 that direction's records belong to
 * the kernel for the rest of the connection: there is no way back.
 */
KSSL_MUST_USE int ktls_install(int fd, int optname, struct ktls_crypto *ci);

/* TLS 1.3 RX on Linux >= 6.0: skip the padding scan. 0 or -errno. */
KSSL_MUST_USE int ktls_rx_expect_no_pad(int fd);

/*
 * Send one record of `type` (not application data) through kernel TX.
 * Returns 0, or -errno (-EAGAIN when the socket is full).
 */
KSSL_MUST_USE int ktls_send_record(int fd, uint8_t type, const void *buf, size_t len);

/*
 * Receive through kernel RX. Returns bytes read (0 = TCP EOF) or -errno;
 * *type is the record type of what was read. A control record's bytes are
 * returned like data: the caller looks at *type.
 */
KSSL_MUST_USE ssize_t ktls_recv(int fd, void *buf, size_t len, int flags, uint8_t *type);

#endif /* KSSL_KTLS_H */
