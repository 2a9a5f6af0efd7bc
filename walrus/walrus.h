/*
 * walrus.h - Walrus's private interfaces.
 */
#ifndef KARRI_WALRUS_H
#define KARRI_WALRUS_H

#include <event2/http.h>

/* Bodies evhttp may buffer whole; object data will be streamed instead. */
#define WALRUS_MAX_BUFFERED_BODY (16u << 20)

/* route.c: the one HTTP handler. */
void walrus_route(struct evhttp_request *req, void *arg);

#endif
