/*
 * clc_walrus.h - URLs of Walrus objects that other components may use.
 *
 * Nodes and EBS hold no keys: the CLC presigns (SigV4, common/sig/sign.h) the
 * Walrus requests they need with the cloud's internal admin identity and
 * passes the URLs in the SOAP requests.  Implemented in client_walrus_url.c.
 */
#ifndef KARRI_CLC_WALRUS_H
#define KARRI_CLC_WALRUS_H

#include <stddef.h>

#include <sqlite3.h>

struct clc;

/*
 * The cloud's own admin user in users.db, made by the CLC on first use
 * (and again if deleted): it signs what the CLC presigns.  Not for people:
 * its key is never shown or logged.
 */
#define CLC_SYSTEM_USER "karri-system"
#define CLC_IMAGE_URL_S 3600		/* how long a node may take to fetch an image */
#define CLC_IMAGE_URL_MAX 1200		/* longest image URL RunInstances hands on */
#define CLC_MANIFEST_URL_S 60		/* RegisterImage's own validation call */

/*
 * A presigned URL of the registered Walrus for `method` on bucket/key
 * (key NULL: the bucket itself), good for expires_s seconds.  -1 with
 * kr_error() when no Walrus is registered or the URL does not fit.
 */
int clc_walrus_presign(struct clc *clc, sqlite3 *db, const char *method, const char *bucket,
    const char *key, unsigned expires_s, char *url, size_t len);

/*
 * A presigned GET of Walrus's internal operation `op` ("manifest",
 * "image") on the bundle whose manifest is bucket/key, with extra_query
 * (already encoded, or NULL) added.
 */
int clc_walrus_presign_op(struct clc *clc, sqlite3 *db, const char *op, const char *bucket,
    const char *key, const char *extra_query, unsigned expires_s, char *url, size_t len);

#endif
