/*
 * ossl_sender: the plain-OpenSSL reference server for bench/run.
 *
 *   ossl_sender CERT KEY DIR [--ktls]
 *
 * Serves GET /NAME from DIR, one thread per connection, keep-alive unless
 * the request says "Connection: close" (or is HTTP/1.0). Without --ktls: read() + SSL_write() in 16 KiB records (what
 * a typical OpenSSL server does). With --ktls: SSL_OP_ENABLE_KTLS and
 * SSL_sendfile (OpenSSL's native kTLS). Prints "listening PORT" and, per
 * connection with --ktls, fails the request if kTLS TX did not engage.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;
static const char *root;
static int use_ktls;
enum { CHUNK = 1 << 14 };

/*
 * One request on ssl: 1 to keep the connection for the next, 0 to close.
 * The request head must arrive in one piece of at most 4 KiB (the
 * benchmark's clients send ~100 bytes and never pipeline).
 */
static int serve_request(SSL *ssl, char *chunk)
{
	char req[4096], path[4200], hdr[256], *sp;
	int n = 0, r, ok = 0, close_after;
	struct stat st;
	int file;

	while (n < (int)sizeof(req) - 1) {
		r = SSL_read(ssl, req + n, (int)sizeof(req) - 1 - n);
		if (r <= 0)
			return 0;
		n += r;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	/* HTTP/1.0 (openssl s_time -www) closes unless it asks otherwise. */
	close_after = strcasestr(req, "\r\nConnection: close") != NULL ||
		      (strstr(req, " HTTP/1.0\r\n") &&
		       !strcasestr(req, "\r\nConnection: keep-alive"));
	if (strncmp(req, "GET /", 5) || !(sp = strchr(req + 4, ' ')))
		return 0;
	*sp = 0;
	if (strstr(req + 4, ".."))
		return 0;
	snprintf(path, sizeof(path), "%s%s", root, req + 4);
	file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0 || fstat(file, &st) < 0)
		goto out;
	if (use_ktls && !BIO_get_ktls_send(SSL_get_wbio(ssl))) {
		fprintf(stderr, "ossl_sender: kTLS TX not enabled\n");
		goto out;
	}
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: %s\r\n\r\n",
		     (long long)st.st_size, close_after ? "close" : "keep-alive");
	if (SSL_write(ssl, hdr, n) != n)
		goto out;
	if (use_ktls) {
		off_t off = 0;

		while (off < st.st_size) {
			ossl_ssize_t w = SSL_sendfile(ssl, file, off,
						      (size_t)(st.st_size - off), 0);
			if (w <= 0)
				goto out;
			off += w;
		}
	} else {
		ssize_t got;
		off_t off = 0;

		while (off < st.st_size &&
		       (got = pread(file, chunk, CHUNK, off)) > 0) {
			if (SSL_write(ssl, chunk, (int)got) != (int)got)
				goto out;
			off += got;
		}
	}
	ok = !close_after;
out:
	if (file >= 0)
		close(file);
	return ok;
}

static void *serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	SSL *ssl = SSL_new(ctx);
	char *chunk = malloc(CHUNK);

	/* Head and body are separate records: no Nagle wait between them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL_set_fd(ssl, fd);
	if (chunk && SSL_accept(ssl) == 1) {
		while (serve_request(ssl, chunk))
			;
		SSL_shutdown(ssl);
	}
	free(chunk);
	SSL_free(ssl);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l, one = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: ossl_sender CERT KEY DIR [--ktls]\n");
		return 2;
	}
	root = argv[3];
	use_ktls = argc > 4 && !strcmp(argv[4], "--ktls");
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if (use_ktls)
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4096) < 0)
		return 1;
	getsockname(l, (struct sockaddr *)&sa, &sl);
	printf("listening %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(l, NULL, NULL);
		pthread_t th;

		if (fd < 0)
			continue;
		if (pthread_create(&th, NULL, serve_one, (void *)(intptr_t)fd) == 0)
			pthread_detach(th);
		else
			close(fd);
	}
}
