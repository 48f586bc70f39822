/*
 * `kssl serve` access log, one line per response on stdout, in one of:
 * - kssl (default): NCSA common format followed by the TLS version, where
 *   records were encrypted and how the body was sent:
 *     PEER - - [DATE] "REQUEST" STATUS BYTES tls=1.3 tx=kernel send=splice
 * - common: NCSA common log format (BYTES "-" when no body was sent);
 * - combined: common + "REFERER" "USER-AGENT" (Apache's combined).
 * Request fields are escaped by log_escape, so a client cannot forge lines.
 */
#include <stdio.h>
#include <time.h>

#include "serve.h"

void accesslog_write(struct hconn *hc)
{
	const struct serve_opts *o = hc->srv->o;
	kssl_conn *c = kssl_lconn_tls(hc->lc);
	char date[64], bytes[24];
	time_t t = time(NULL);
	struct tm tm;
	const char *path = hc->body_inline ? "with-head"
					   : kssl_lconn_send_path(hc->lc);
	char method[4 * sizeof(hc->req->method)], target[4 * 1024];
	char ref[4 * sizeof(hc->req->referer)], agent[4 * sizeof(hc->req->agent)];
	char peer[PEER_NAME_LEN];

	if (!o->access_log)
		return;
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%d/%b/%Y:%H:%M:%S %z", &tm);
	if (o->log_format != LOG_KSSL && !hc->body_len)
		snprintf(bytes, sizeof(bytes), "-");
	else
		snprintf(bytes, sizeof(bytes), "%zu", hc->body_len);
	printf("%s - - [%s] \"%s %s HTTP/1.%d\" %d %s",
	       peer_name(&hc->peer, peer), date,
	       hc->req->method[0] ? log_escape(hc->req->method, method,
					      sizeof(method)) : "-",
	       hc->req->target[0] ? log_escape(hc->req->target, target,
					      sizeof(target)) : "-", hc->req->minor,
	       hc->status, bytes);
	if (o->log_format == LOG_COMBINED)
		printf(" \"%s\" \"%s\"",
		       hc->req->referer[0] ? log_escape(hc->req->referer, ref,
						       sizeof(ref)) : "-",
		       hc->req->agent[0] ? log_escape(hc->req->agent, agent,
						     sizeof(agent)) : "-");
	if (o->log_format == LOG_KSSL)
		printf(" tls=%s tx=%s%s%s",
		       kssl_conn_version(c) == KSSL_TLS1_3 ? "1.3" : "1.2",
		       kssl_conn_offload(c, KSSL_DIR_TX, NULL) ==
				       KSSL_OFFLOAD_KERNEL ? "kernel" : "user",
		       hc->body_len ? " send=" : "", hc->body_len ? path : "");
	putchar('\n');
}
