/*
 * sizes.h - buffer sizes that recur across the tree, named for what they
 * hold, so that a reader sees "a state file's path", not a bare 1100.
 *
 * Paths: Karri's directories ($KARRI_HOME/var/lib/karri/..., INSTANCE_PATH,
 * a credentials directory) are held in 1024 bytes; a file in one adds a
 * name of well under 76 bytes, and the temporary sibling it is written to
 * before rename() adds a suffix (".tmp", ".part.<n>") on top of that.
 * Anything longer is refused where the path is made (snprintf checked), so
 * a bound here is a limit on names, never a silent truncation.
 */
#ifndef KARRI_SIZES_H
#define KARRI_SIZES_H

#define KR_DIR_MAX 1024		/* a directory Karri keeps files in */
#define KR_PATH_MAX 1100	/* a file in such a directory */
#define KR_TMP_PATH_MAX 1200	/* that file's temporary sibling (path + suffix) */

/* A request or correlation id: a UUID, 36 characters, and the NUL. */
#define KR_UUID_MAX 37

#endif
