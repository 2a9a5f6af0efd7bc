/*
 * clc.h - the cloud controller's private interfaces.
 */
#ifndef KARRI_CLC_H
#define KARRI_CLC_H

#include <event2/http.h>

#define CLC_MAX_REQUEST (16u << 20)	/* largest EC2 request body (UserData fits) */

/* route.c: the one HTTP handler: SOAP or the EC2 Query API, by request. */
void clc_route(struct evhttp_request *req, void *arg);

#endif
