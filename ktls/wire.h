/*
 * Kernel and wire constants, defined once: the kernel TLS socket options
 * (Documentation/networking/tls.rst), TLS record content types (RFC 8446,
 * 5.1; RFC 5246, 6.2.1), alert levels and the alert descriptions kssl
 * sends or names (RFC 8446, 6), and post-handshake message types (RFC 8446,
 * 4). Used by libkssl (src/, ktls/), the C tests, and the Python binding,
 * which exposes them as kssl._kssl constants (pybind/module.c).
 * Plain #defines only, so any C file can include it.
 */
#ifndef KSSL_KTLS_WIRE_H
#define KSSL_KTLS_WIRE_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/tls.h>

/* Socket option levels and names (glibc's headers may lack them). */
#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef TLS_TX
#define TLS_TX 1
#endif
#ifndef TLS_RX
#define TLS_RX 2
#endif
#ifndef TLS_SET_RECORD_TYPE
#define TLS_SET_RECORD_TYPE 1 /* cmsg type on sendmsg */
#endif
#ifndef TLS_GET_RECORD_TYPE
#define TLS_GET_RECORD_TYPE 2 /* cmsg type on recvmsg */
#endif

/* TLS record content types. */
#define KTLS_CT_CHANGE_CIPHER_SPEC 20
#define KTLS_CT_ALERT 21
#define KTLS_CT_HANDSHAKE 22
#define KTLS_CT_APPLICATION_DATA 23

/* Alert levels and the descriptions kssl sends or reacts to. */
#define KTLS_AL_WARNING 1
#define KTLS_AL_FATAL 2
#define KTLS_AD_CLOSE_NOTIFY 0
#define KTLS_AD_UNEXPECTED_MESSAGE 10
#define KTLS_AD_BAD_RECORD_MAC 20
#define KTLS_AD_RECORD_OVERFLOW 22
#define KTLS_AD_DECODE_ERROR 50
#define KTLS_AD_USER_CANCELED 90
#define KTLS_AD_NO_RENEGOTIATION 100

/* Handshake message types seen after the handshake. */
#define KTLS_HS_HELLO_REQUEST 0
#define KTLS_HS_NEW_SESSION_TICKET 4
#define KTLS_HS_CERTIFICATE_REQUEST 13
#define KTLS_HS_KEY_UPDATE 24

#endif /* KSSL_KTLS_WIRE_H */
