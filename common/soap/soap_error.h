/*
 * soap_error.h - one error path across the SOAP hops (NC -> CC -> CLC,
 * EBS -> CLC).
 *
 * The daemon that detects a failure records it once with kr_error(); its
 * SOAP operation answers with kr_soap_error_reply(), which writes that
 * record as the contract's refusal: return=false and statusMessage
 * "Code: message" (wsdl/karri-types.h).  An answer that has no response
 * struct to carry it (out of memory while rendering, an operation not
 * implemented, a body that is not SOAP) is a SOAP fault written by
 * kr_soap_error_fault() the same way: faultstring the code, detail the
 * message.
 *
 * The caller reads either back with kr_soap_error_read(), which records
 * the peer's code and message as its own kr_error, unchanged, so the EC2
 * code chosen where the failure was detected (an NC's
 * InsufficientInstanceCapacity, an EBS VolumeLimitExceeded) reaches the
 * EC2 client as it was chosen.  Both come from the network: a code that is
 * not a well-formed EC2 code token becomes InternalError, and the message
 * is bounded and stripped of control characters.  A peer that cannot be
 * reached or does not answer in time is "Unavailable".
 */
#ifndef KARRI_SOAP_ERROR_H
#define KARRI_SOAP_ERROR_H

#include <stdbool.h>

#include "karriH.h"

/*
 * The refusal of the failure recorded last (kr_error): *ret = false_,
 * *status = "Code: message" in soap's memory.  Returns SOAP_OK, so an
 * operation ends with `return kr_soap_error_reply(soap, &resp->_return,
 * &resp->statusMessage);`.
 */
int kr_soap_error_reply(struct soap *soap, enum xsd__boolean *ret, char **status);

/* The same failure as a SOAP (receiver) fault; returns SOAP_FAULT. */
int kr_soap_error_fault(struct soap *soap);

/*
 * After `call` = soap_call_...(soap, url, ...): 0 when the call succeeded
 * and *ret is true_; else -1 with kr_error() recorded from what the peer
 * said (a refusal or a fault), or for a transport failure:
 *   - connected, then no answer within the timeout: "Unavailable";
 *   - not reachable at all, or TLS refused: `unreachable_code` (NULL:
 *     "Unavailable");
 *   - the peer does not implement the operation (NotImplemented, as a
 *     fault or a refusal): "Unsupported" (400: a retry will not help).
 * ret and status point into the response (read only when the call
 * succeeded); `what` and `url` go into the log and the transport messages.
 */
int kr_soap_error_read(struct soap *soap, int call, const enum xsd__boolean *ret,
    char *const *status, const char *unreachable_code, const char *what, const char *url);

/* A well-formed EC2 error code: a letter, then letters, digits and dots; < 64 bytes. */
bool kr_soap_error_code_ok(const char *code);

/*
 * Split "Code: message" into kr_error(code, message) with the rules above
 * (a bad or missing code: InternalError with the whole text).  Exposed for
 * the tests and for callers that hold only the text.
 */
void kr_soap_error_parse(const char *status);

#endif
