/* Opening request paths strictly beneath the served root. */
#ifndef KSSL_CLI_FSROOT_H
#define KSSL_CLI_FSROOT_H

#include <sys/stat.h>

#include "http.h"

/*
 * fsroot_open opens rel (a decoded request path, leading '/' allowed)
 * beneath the directory root_fd, read-only. Symlinks are followed only while
 * they stay beneath the root (openat2 RESOLVE_BENEATH; on kernels without
 * openat2, the same rules by a component-by-component openat walk from
 * root_fd, race-free against renames; KSSL_SERVE_NO_OPENAT2=1 forces it). Only a regular file (returned in
 * blocking mode) or a directory is returned, with its fstat in *st; anything
 * else (FIFO, socket, device) is refused without a read, and the open itself
 * never blocks. Returns an fd, or -(HTTP status): -404 missing, -403
 * escaping/forbidden.
 */
int fsroot_open(int root_fd, const char *rel, struct stat *st);

/* Caps of one directory listing: the names read, and the HTML built (the
 * work is bounded, so a listing never holds up the event loop for long). */
#define FSROOT_LISTING_MAX_ENTRIES 10000
#define FSROOT_LISTING_MAX_BYTES (1024 * 1024)

/* Append an HTML listing of the open directory dir_fd (url_path is the
 * request path, ending in '/') to b. Names are HTML-escaped; names starting
 * with '.' are left out unless dotfiles. Past the caps above, the listing
 * ends with a "Listing truncated" note. */
int fsroot_listing(int dir_fd, const char *url_path, int dotfiles,
		   struct http_buf *b);

#endif
