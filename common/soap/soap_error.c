/*
 * soap_error.c - writing a recorded kr_error into a SOAP answer and reading
 * it back on the calling side (see soap_error.h).
 *
 * Why a refusal and not a fault for the ordinary case: the contracts say so
 * (wsdl/karri-types.h), and gSOAP closes a kept-alive connection after it
 * sends a fault, so refusals keep the connection for the next call.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"

#define CODE_FALLBACK "InternalError"

bool
kr_soap_error_code_ok(const char *code)
{
	size_t n;

	if (code == NULL || !((*code >= 'A' && *code <= 'Z') || (*code >= 'a' && *code <= 'z')))
		return false;
	for (n = 0; code[n]; n++) {
		char c = code[n];

		if (n >= KR_ERROR_CODE_MAX - 1)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.'))
			return false;
	}
	return true;
}

/* The recorded failure, or a generic one when nothing was recorded (a bug upstream). */
static void
recorded(const char **code, const char **message)
{
	*code = kr_error_code()[0] ? kr_error_code() : CODE_FALLBACK;
	*message = kr_error_message()[0] ? kr_error_message() : "unknown error";
}

int
kr_soap_error_reply(struct soap *soap, enum xsd__boolean *ret, char **status)
{
	const char *code, *message;
	size_t n;

	recorded(&code, &message);
	kr_log_info("refused: %s: %s", code, message);
	n = strlen(code) + strlen(message) + 3;
	*ret = false_;
	if ((*status = soap_malloc(soap, n)) != NULL)
		snprintf(*status, n, "%s: %s", code, message);
	return SOAP_OK;
}

int
kr_soap_error_fault(struct soap *soap)
{
	struct kr_buf detail = KR_BUF_INIT;
	const char *code, *message;
	int rc;

	recorded(&code, &message);
	kr_log_info("fault: %s: %s", code, message);
	/* gSOAP puts the detail into the XML as it is: escape the text. */
	kr_buf_add_xml(&detail, message);
	rc = soap_receiver_fault(soap, soap_strdup(soap, code),
	    kr_buf_failed(&detail) ? NULL : soap_strdup(soap, kr_buf_str(&detail)));
	kr_buf_free(&detail);
	return rc;
}

/*
 * Text from the peer into a message: control characters become spaces and
 * the five XML entities gSOAP leaves in a fault's detail are undone.
 */
static void
clean_text(const char *in, char *out, size_t len, bool unescape)
{
	static const struct { const char *entity; char c; } ent[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' },
		{ "&apos;", '\'' },
	};
	size_t o = 0;

	for (size_t i = 0; in && in[i] && o + 1 < len; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t k;

		for (k = 0; unescape && c == '&' && k < sizeof(ent) / sizeof(ent[0]); k++)
			if (strncmp(in + i, ent[k].entity, strlen(ent[k].entity)) == 0)
				break;
		if (unescape && c == '&' && k < sizeof(ent) / sizeof(ent[0])) {
			out[o++] = ent[k].c;
			i += strlen(ent[k].entity) - 1;
		} else {
			out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
	}
	out[o] = '\0';
}

/* kr_error(code, text) when code is well formed, else InternalError with all of it. */
static void
record_peer(const char *code, size_t code_len, const char *text, bool unescape)
{
	char c[KR_ERROR_CODE_MAX], m[KR_ERROR_MSG_MAX];

	if (code_len > 0 && code_len < sizeof(c)) {
		memcpy(c, code, code_len);
		c[code_len] = '\0';
	} else {
		c[0] = '\0';
	}
	clean_text(text, m, sizeof(m), unescape);
	if (kr_soap_error_code_ok(c))
		kr_error(c, "%s", m[0] ? m : c);
	else
		kr_error(CODE_FALLBACK, "%s", m[0] ? m : "the service failed without saying why");
}

void
kr_soap_error_parse(const char *status)
{
	const char *sep = status ? strstr(status, ": ") : NULL;
	char code[KR_ERROR_CODE_MAX];
	size_t n = sep ? (size_t)(sep - status) : 0;

	if (sep && n < sizeof(code)) {
		memcpy(code, status, n);
		code[n] = '\0';
		if (kr_soap_error_code_ok(code)) {
			record_peer(code, n, sep + 2, false);
			return;
		}
	}
	/* No code, or a bad one: InternalError with the whole text, nothing lost. */
	record_peer(NULL, 0, status, false);
}

/* A fault the peer sent: faultstring the code, detail the message. */
static void
read_fault(struct soap *soap, const char *what, const char *url)
{
	const char *fs = *soap_faultstring(soap), *fd = *soap_faultdetail(soap);
	char text[KR_ERROR_MSG_MAX];

	if (fs && strcmp(fs, "NotImplemented") == 0) {
		kr_error("Unsupported", "%s: the service at %s does not implement this yet",
		    what, url);
		return;
	}
	if (kr_soap_error_code_ok(fs)) {
		record_peer(fs, strlen(fs), fd, true);
		return;
	}
	/* gSOAP's own words (an unknown element, a bad answer): not a code. */
	snprintf(text, sizeof(text), "%s: the service at %s failed: %.200s%s%.200s", what, url,
	    fs ? fs : "error", fd ? ": " : "", fd ? fd : "");
	record_peer(NULL, 0, text, true);
}

int
kr_soap_error_read(struct soap *soap, int call, const enum xsd__boolean *ret,
    char *const *status, const char *unreachable_code, const char *what, const char *url)
{
	const char *down = unreachable_code ? unreachable_code : "Unavailable";

	if (call == SOAP_OK && *ret == true_)
		return 0;
	if (call == SOAP_OK) {
		kr_soap_error_parse(*status);
		if (strcmp(kr_error_code(), "NotImplemented") == 0)
			kr_error("Unsupported", "%s: the service at %s does not implement this yet",
			    what, url);
		kr_log_debug("%s on %s refused: %s: %s", what, url, kr_error_code(),
		    kr_error_message());
		return -1;
	}
	if ((call == SOAP_TCP_ERROR || call == SOAP_EOF) && soap->errnum == 0)
		/* gSOAP's timeouts leave no errno: connected, then no answer in time. */
		kr_error("Unavailable", "%s: the service at %s did not answer within %d s", what,
		    url, soap->recv_timeout);
	else if (call == SOAP_TCP_ERROR || call == SOAP_EOF)
		kr_error(down, "%s: the service at %s is not reachable", what, url);
	else if (call == SOAP_SSL_ERROR)
		kr_error(down, "%s: TLS with the service at %s failed: %.200s%s%.200s", what,
		    url, *soap_faultstring(soap) ? *soap_faultstring(soap) : "handshake",
		    *soap_faultdetail(soap) ? ": " : "",
		    *soap_faultdetail(soap) ? *soap_faultdetail(soap) : "");
	else
		read_fault(soap, what, url);
	kr_log_debug("%s on %s failed (gSOAP %d): %s: %s", what, url, call, kr_error_code(),
	    kr_error_message());
	return -1;
}
