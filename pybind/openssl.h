/*
 * The binding's only direct OpenSSL calls (pybind/openssl.c): what the
 * stdlib's ssl exposes as raw OpenSSL numbers or texts, which libkssl's
 * API deliberately does not model. No other pybind file includes an
 * OpenSSL header.
 */
#ifndef KSSL_PYBIND_OPENSSL_H
#define KSSL_PYBIND_OPENSSL_H

#include <stdint.h>

#include <kssl/kssl.h>

/*
 * The OpenSSL side of a failed kssl call, as CPython's _ssl reports it:
 * library and reason numbers and OpenSSL's reason text (0/NULL when
 * OpenSSL named no cause), and for KSSL_E_CERT the text of the X509
 * verify error in e->detail.
 */
struct kp_ossl_error {
	int lib;
	int reason;
	const char *reason_text;  /* OpenSSL's static string, or NULL */
	const char *verify_text;  /* OpenSSL's static string, or NULL */
};
void kp_ossl_error(const struct kssl_error_info *e, struct kp_ossl_error *out);

/* ssl.SSLContext.verify_flags (X509_V_FLAG_*) and the hostname check
 * flags (X509_CHECK_FLAG_*), replacing what the context had. */
void kp_ossl_set_verify_flags(kssl_ctx *ctx, unsigned long flags,
			      unsigned int hostflags);

/* ssl.SSLContext.options (SSL_OP_*), added to the context's, minus
 * SSL_OP_ENABLE_KTLS. */
void kp_ossl_set_options(kssl_ctx *ctx, uint64_t opts);

/*
 * An unencrypted private key in DER (any type OpenSSL reads) as PKCS#8
 * PEM, malloc'd into *pem (free with free()); 0, or -1 if the key does
 * not parse or memory ran out.
 */
int kp_ossl_key_pem(const void *der, size_t len, char **pem, size_t *pem_len);

/*
 * A DER certificate as PEM (with_aux: OpenSSL's "TRUSTED CERTIFICATE"
 * form), malloc'd into *pem; 0, or -1 if it does not parse or memory ran
 * out. For _ssl.Certificate.public_bytes.
 */
int kp_ossl_cert_pem(const uint8_t *der, size_t len, int with_aux, char **pem,
		     size_t *pem_len);

/* The subject of a DER certificate as RFC 2253 text, malloc'd NUL-ended
 * into *out; 0, or -1. For _ssl.Certificate's repr. */
int kp_ossl_cert_subject(const uint8_t *der, size_t len, char **out);

/* OpenSSL's hash of a DER certificate's subject name (0 if it does not
 * parse). For _ssl.Certificate's hash. */
unsigned long kp_ossl_cert_subject_hash(const uint8_t *der, size_t len);

/*
 * The certificates in a context's X509 store, which grows while it
 * verifies when OpenSSL looks certificates up in a hash directory
 * (capath, the default one): their count (other store objects, CRLs,
 * included), and object i as DER malloc'd into *der (free with free();
 * -1 if object i is not a certificate or memory ran out). For
 * SSLContext.get_ca_certs().
 */
size_t kp_ossl_store_count(kssl_ctx *ctx);
int kp_ossl_store_cert(kssl_ctx *ctx, size_t i, uint8_t **der, size_t *len);

#endif
