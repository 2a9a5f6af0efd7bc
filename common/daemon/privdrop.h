/*
 * privdrop.h - giving up root for good once the privileged setup is done.
 *
 * A helper that needs root only to open something (karri-aoe: its raw
 * AF_PACKET socket and the NBD socket) keeps the open descriptors and runs
 * the rest, which parses frames off the network, as an unprivileged user:
 * no supplementary groups, real/effective/saved ids all changed, no
 * capabilities (an empty bounding set too), no way back (PR_SET_NO_NEW_PRIVS) and not dumpable, so
 * another process of the same user cannot ptrace it to reach the socket.
 *
 * The front-end daemons that parse the network and need no root at all
 * (karri-clc, karri-walrus) do the same right after reading their config
 * (common/daemon/daemon.c), once root has handed them their state with
 * kr_privdrop_give().
 */
#ifndef KARRI_PRIVDROP_H
#define KARRI_PRIVDROP_H

#include <stddef.h>

/*
 * Become `user` (a name from the password database) when running as root;
 * a no-op returning 0 otherwise.  -1 with kr_error set ("InternalError",
 * naming the user and the step) when the user is unknown or a step failed:
 * the caller must then stop, not go on as root.
 */
int kr_privdrop(const char *user);

/*
 * Hand `path` (a file or directory root made for a daemon that runs as
 * `user`) over to that user, without following a symbolic link.  Only what
 * root owns changes hands: a file of any other user is never taken.  0 when
 * done and when there is nothing to do (path missing, not running as root,
 * owner not root); -1 with kr_error set ("InternalError") otherwise.
 */
int kr_privdrop_give(const char *user, const char *path);

/*
 * Stay root but keep only the n capabilities in keep (CAP_* numbers): the
 * bounding set shrinks to them, so nothing this process runs gets more,
 * and they become its effective and permitted sets.  For the privileged
 * parents of karri-cc and karri-nc.  0, or -1 with kr_error set.
 */
int kr_privdrop_keep_caps(const int *keep, size_t n);

#endif
