/* Making client-controlled text safe for the logs of `kssl serve`. */
#include <stdio.h>

#include "serve.h"

const char *log_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 5 < outlen; in++) {
		unsigned char c = (unsigned char)*in;

		/* Control bytes could forge log lines (LF) or drive a
		 * terminal (ESC, C1); quotes and backslashes would blur the
		 * quoted request field. */
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02X", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
	return out;
}
