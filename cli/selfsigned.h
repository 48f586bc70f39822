/* An in-memory self-signed certificate for `kssl serve` without --cert. */
#ifndef KSSL_CLI_SELFSIGNED_H
#define KSSL_CLI_SELFSIGNED_H

#include "kssl/kssl.h"

/*
 * selfsigned_install generates a P-256 key and a self-signed certificate
 * for localhost / 127.0.0.1 / ::1 (valid 30 days), installs both into ctx
 * and writes the certificate's SHA-256 fingerprint ("AB:CD:...") to fp
 * (at least 96 bytes). Nothing is written to disk. Returns 0 or -1.
 */
int selfsigned_install(kssl_ctx *ctx, char *fp, size_t fplen);

#endif
