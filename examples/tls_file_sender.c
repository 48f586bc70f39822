/*
 * tls_file_sender: the smallest useful libkssl program. It accepts one TLS
 * connection on 127.0.0.1:PORT and sends FILE over it; with kernel TLS the
 * bytes go from the page cache to the socket without entering this process.
 *
 *   cc tls_file_sender.c $(pkg-config --cflags --libs kssl) -o tls_file_sender
 *   ./tls_file_sender cert.pem key.pem FILE PORT
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kssl/kssl.h>

/* Listens on 127.0.0.1:port (0: any free port); *bound gets the port. */
static int listen_on(int port, int *bound)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("listen");
		exit(1);
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	const char *why_tx, *why_rx;
	struct stat st;
	size_t sent = 0;
	kssl_ctx *ctx;
	kssl_conn *conn;
	int lfd, fd, file, rc, port;

	if (argc != 5) {
		fprintf(stderr, "usage: %s CERT KEY FILE PORT (0: any free port)\n", argv[0]);
		return 2;
	}
	ctx = kssl_ctx_new(KSSL_SERVER);
	if (!ctx || kssl_ctx_use_cert_file(ctx, argv[1], argv[2]) < 0) {
		fprintf(stderr, "certificate: %s\n", kssl_last_error());
		return 1;
	}
	file = open(argv[3], O_RDONLY);
	if (file < 0 || fstat(file, &st) < 0) {
		perror(argv[3]);
		return 1;
	}
	lfd = listen_on(atoi(argv[4]), &port);
	printf("listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	conn = kssl_conn_new(ctx, fd);
	if (!conn || kssl_handshake(conn) < 0) {
		fprintf(stderr, "handshake: %s\n", kssl_last_error());
		return 1;
	}
	/* Where do records go? The answer is per direction, with a reason. */
	printf("tx: %s\n", kssl_conn_offload(conn, KSSL_DIR_TX, &why_tx) ==
	       KSSL_OFFLOAD_KERNEL ? "kernel" : why_tx);
	printf("rx: %s\n", kssl_conn_offload(conn, KSSL_DIR_RX, &why_rx) ==
	       KSSL_OFFLOAD_KERNEL ? "kernel" : why_rx);
	rc = kssl_sendfile(conn, file, 0, (size_t)st.st_size, &sent);
	if (rc < 0)
		fprintf(stderr, "sendfile: %s (%zu bytes sent)\n", kssl_last_error(), sent);
	else if (kssl_shutdown(conn) == 0) {
		char sink[256];

		/* Wait for the peer's close_notify before closing the socket. */
		while (kssl_read(conn, sink, sizeof(sink)) > 0)
			;
	}
	printf("sent %zu\n", sent);
	kssl_conn_free(conn);
	kssl_ctx_free(ctx);
	close(fd);
	close(lfd);
	close(file);
	return rc < 0;
}
