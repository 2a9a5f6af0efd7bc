/*
 * privdrop.h - giving up root for good once the privileged setup is done.
 *
 * A helper that needs root only to open something (karri-aoe: its raw
 * AF_PACKET socket and the NBD socket) keeps the open descriptors and runs
 * the rest, which parses frames off the network, as an unprivileged user:
 * no supplementary groups, real/effective/saved ids all changed, no
 * capabilities, no way back (PR_SET_NO_NEW_PRIVS) and not dumpable, so
 * another process of the same user cannot ptrace it to reach the socket.
 */
#ifndef KARRI_PRIVDROP_H
#define KARRI_PRIVDROP_H

/*
 * Become `user` (a name from the password database) when running as root;
 * a no-op returning 0 otherwise.  -1 with kr_error set ("InternalError",
 * naming the user and the step) when the user is unknown or a step failed:
 * the caller must then stop, not go on as root.
 */
int kr_privdrop(const char *user);

#endif
