#include "selfsigned.h"

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *make_cert(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	FILE *r = fopen("/dev/urandom", "rb");
	int ok = cert != NULL;

	if (!r || fread(serial, 1, sizeof(serial), r) != sizeof(serial))
		ok = 0;
	if (r)
		fclose(r);
	serial[0] &= 0x7f;
	ok = ok && X509_set_version(cert, 2);
	ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400);
	ok = ok && X509_set_pubkey(cert, key);
	name = ok ? X509_get_subject_name(cert) : NULL;
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				(const unsigned char *)"localhost", -1, -1, 0);
	ok = ok && X509_set_issuer_name(cert, name);
	ok = ok && add_ext(cert, NID_subject_alt_name,
			   "DNS:localhost,IP:127.0.0.1,IP:::1");
	ok = ok && add_ext(cert, NID_basic_constraints, "critical,CA:FALSE");
	ok = ok && add_ext(cert, NID_ext_key_usage, "serverAuth");
	ok = ok && X509_sign(cert, key, EVP_sha256());
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int selfsigned_install(kssl_ctx *ctx, char *fp, size_t fplen)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = key ? make_cert(key) : NULL;
	unsigned char *cder = NULL, *kder = NULL, md[32];
	unsigned mdlen = 0;
	int clen, klen = 0, rc = -1;

	if (!cert)
		goto out;
	clen = i2d_X509(cert, &cder);
	klen = i2d_PrivateKey(key, &kder);
	if (clen <= 0 || klen <= 0)
		goto out;
	if (kssl_ctx_use_cert_mem(ctx, cder, (size_t)clen, kder, (size_t)klen,
				  KSSL_FORMAT_DER) < 0)
		goto out;
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	fp[0] = 0;
	for (unsigned i = 0, o = 0; i < mdlen && o + 4 < fplen; i++)
		o += (unsigned)snprintf(fp + o, fplen - o, "%s%02X",
					i ? ":" : "", md[i]);
	rc = 0;
out:
	if (kder)
		OPENSSL_cleanse(kder, (size_t)(klen > 0 ? klen : 0));
	OPENSSL_free(kder);
	OPENSSL_free(cder);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
