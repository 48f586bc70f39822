/*
 * Record keys for the kernel, derived from OpenSSL's secrets.
 *
 * TLS 1.3 (RFC 8446, 7.3): key = HKDF-Expand-Label(traffic_secret, "key",
 * "", key_len), iv = HKDF-Expand-Label(traffic_secret, "iv", "", 12), with
 * the suite's hash. The kernel splits the 12-byte iv into a 4-byte salt and
 * an 8-byte iv for GCM/CCM; ChaCha20-Poly1305 takes all 12 bytes as iv.
 *
 * TLS 1.2 (RFC 5246, 6.3; RFC 5288, 3; RFC 7905, 2): key_block =
 * PRF(master_secret, "key expansion", server_random || client_random), laid
 * out client_key, server_key, client_iv, server_iv (AEAD suites have no MAC
 * keys). GCM/CCM carry an 8-byte explicit nonce per record: it must never
 * repeat under a key, so we start it at the sequence number, which the
 * kernel then increments per record. ChaCha20-Poly1305 has a 12-byte fixed iv
 * XORed with the sequence number and no explicit nonce.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ktls/ktls.h"

struct ktls_shape {
	int type;
	size_t key_len;
	size_t iv_len;   /* TLS 1.2 fixed iv from the key block */
	size_t crypto_len;
};

/* Key and fixed-iv sizes per kernel cipher (include/uapi/linux/tls.h). */
static const struct ktls_shape shapes[] = {
	{ TLS_CIPHER_AES_GCM_128, 16, 4, sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ TLS_CIPHER_AES_GCM_256, 32, 4, sizeof(struct tls12_crypto_info_aes_gcm_256) },
	{ TLS_CIPHER_AES_CCM_128, 16, 4, sizeof(struct tls12_crypto_info_aes_ccm_128) },
	{ TLS_CIPHER_CHACHA20_POLY1305, 32, 12,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305) },
};

static int shape_of(int type, struct ktls_shape *s)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (shapes[i].type == type) {
			*s = shapes[i];
			return 0;
		}
	}
	return -1;
}

int ktls_cipher_type(const SSL_CIPHER *cipher, const char **why)
{
	const char *name = SSL_CIPHER_standard_name(cipher);

	if (!SSL_CIPHER_is_aead(cipher)) {
		*why = "CBC suites cannot be offloaded: kernel TLS takes AEAD suites only";
		return 0;
	}
	switch (SSL_CIPHER_get_cipher_nid(cipher)) {
	case NID_aes_128_gcm:
		return TLS_CIPHER_AES_GCM_128;
	case NID_aes_256_gcm:
		return TLS_CIPHER_AES_GCM_256;
	case NID_chacha20_poly1305:
		return TLS_CIPHER_CHACHA20_POLY1305;
	case NID_aes_128_ccm:
		/* CCM_8 has an 8-byte tag; the kernel only does 16. */
		if (name && strstr(name, "CCM_8")) {
			*why = "AES-CCM-8 (8-byte tag) has no kernel TLS support";
			return 0;
		}
		return TLS_CIPHER_AES_CCM_128;
	}
	*why = "cipher has no kernel TLS support (the kernel takes AES-128-GCM, AES-256-GCM, AES-128-CCM and ChaCha20-Poly1305)";
	return 0;
}

static int hkdf_expand_label(const EVP_MD *md, const unsigned char *secret,
			     size_t secret_len, const char *label,
			     unsigned char *out, size_t out_len)
{
	unsigned char info[2 + 1 + 255 + 1];
	size_t label_len = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[5];

	/* struct HkdfLabel { uint16 length; opaque label<7..255>; opaque context<0..255>; } */
	info[n++] = (unsigned char)(out_len >> 8);
	info[n++] = (unsigned char)out_len;
	info[n++] = (unsigned char)(6 + label_len);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return -1;
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		(char *)EVP_MD_get0_name(md), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
		(void *)secret, secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		info, n);
	params[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, out_len, params);
	EVP_KDF_CTX_free(kctx);
	return ok == 1 ? 0 : -1;
}

static int tls12_key_block(SSL *ssl, const EVP_MD *md, unsigned char *out,
			   size_t out_len)
{
	unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
	unsigned char seed[13 + 2 * SSL3_RANDOM_SIZE];
	size_t master_len;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[4];
	int ok = 0;

	master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master,
						sizeof(master));
	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(ssl, seed + 13, SSL3_RANDOM_SIZE);
	SSL_get_client_random(ssl, seed + 13 + SSL3_RANDOM_SIZE,
			      SSL3_RANDOM_SIZE);
	kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (kctx && master_len > 0) {
		params[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
		params[1] = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_SECRET, master, master_len);
		params[2] = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
		params[3] = OSSL_PARAM_construct_end();
		ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
	}
	EVP_KDF_CTX_free(kctx);
	OPENSSL_cleanse(master, sizeof(master));
	return ok ? 0 : -1;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/*
 * Lay out key/iv in the kernel struct. For GCM and CCM the struct layouts
 * differ only in key size, so one helper fills key, salt, iv and rec_seq
 * through pointers.
 */
static void fill(struct ktls_crypto *out, const struct ktls_shape *s,
		 int version, const unsigned char *key, const unsigned char *iv,
		 int tls13, uint64_t seq)
{
	unsigned char *k, *salt, *civ, *rec;

	memset(out, 0, sizeof(*out));
	out->u.info.version = (unsigned short)version;
	out->u.info.cipher_type = (unsigned short)s->type;
	out->len = s->crypto_len;
	switch (s->type) {
	case TLS_CIPHER_AES_GCM_128:
		k = out->u.gcm128.key, salt = out->u.gcm128.salt;
		civ = out->u.gcm128.iv, rec = out->u.gcm128.rec_seq;
		break;
	case TLS_CIPHER_AES_GCM_256:
		k = out->u.gcm256.key, salt = out->u.gcm256.salt;
		civ = out->u.gcm256.iv, rec = out->u.gcm256.rec_seq;
		break;
	case TLS_CIPHER_AES_CCM_128:
		k = out->u.ccm128.key, salt = out->u.ccm128.salt;
		civ = out->u.ccm128.iv, rec = out->u.ccm128.rec_seq;
		break;
	default: /* ChaCha20-Poly1305: 12-byte iv, no salt */
		memcpy(out->u.chacha.key, key, s->key_len);
		memcpy(out->u.chacha.iv, iv, 12);
		put_be64(out->u.chacha.rec_seq, seq);
		return;
	}
	memcpy(k, key, s->key_len);
	memcpy(salt, iv, 4);
	if (tls13)
		memcpy(civ, iv + 4, 8);
	else
		put_be64(civ, seq);
	put_be64(rec, seq);
}

int ktls_derive(SSL *ssl, int is_tx, const unsigned char *secret,
		size_t secret_len, uint64_t seq, struct ktls_crypto *out,
		const char **why)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	const EVP_MD *md;
	struct ktls_shape s;
	unsigned char key[32], iv[12], block[2 * 32 + 2 * 12];
	int version = SSL_version(ssl), type, rc = -1;

	if (!cipher) {
		*why = "no cipher negotiated";
		return -1;
	}
	type = ktls_cipher_type(cipher, why);
	if (!type || shape_of(type, &s) < 0)
		return -1;
	md = SSL_CIPHER_get_handshake_digest(cipher);
	if (!md) {
		*why = "cannot find the suite's hash";
		return -1;
	}
	if (version == TLS1_3_VERSION) {
		if (secret_len == 0) {
			*why = "TLS 1.3 traffic secret not captured";
			return -1;
		}
		if (hkdf_expand_label(md, secret, secret_len, "key", key,
				      s.key_len) < 0 ||
		    hkdf_expand_label(md, secret, secret_len, "iv", iv, 12) < 0) {
			*why = "HKDF-Expand-Label failed";
			goto out;
		}
		fill(out, &s, TLS_1_3_VERSION, key, iv, 1, seq);
		rc = 0;
	} else if (version == TLS1_2_VERSION) {
		/* Our keys are the client's if we are the client and send. */
		int client_side = !SSL_is_server(ssl) == !!is_tx;
		size_t kl = s.key_len, il = s.iv_len;

		if (tls12_key_block(ssl, md, block, 2 * kl + 2 * il) < 0) {
			*why = "TLS1-PRF key expansion failed";
			goto out;
		}
		fill(out, &s, TLS_1_2_VERSION,
		     client_side ? block : block + kl,
		     client_side ? block + 2 * kl : block + 2 * kl + il, 0, seq);
		rc = 0;
	} else {
		*why = "only TLS 1.2 and 1.3 can be offloaded";
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}
