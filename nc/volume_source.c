/*
 * volume_source.c - where a volume is on this node, from its remoteDev
 * (the forms are listed in volume.c): a local file or block device only
 * from the directories of NC_VOLUME_PATHS, an NBD export on a unix socket,
 * or kernel AoE's /dev/etherd/eS.L.  Its own file because both sides of the
 * privsep pair read it: the child to choose, the parent (priv_volume.c) to
 * check again against its own reading of NC_VOLUME_PATHS.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "nc.h"

static int
parse_nbd(const char *remote, char *sock, size_t socklen, char *export_name, size_t exportlen)
{
	const char *p = remote + strlen("nbd+unix://");
	const char *q = strchr(p, '?');

	if (*p != '/' || !q || strncmp(q, "?socket=", 8) != 0) {
		kr_error("InvalidParameterValue", "NBD remoteDev must be nbd+unix:///[export]?socket=/path");
		return -1;
	}
	if ((size_t)(q - p - 1) >= exportlen || strlen(q + 8) >= socklen || q[8] != '/') {
		kr_error("InvalidParameterValue", "NBD export or socket path too long or not absolute");
		return -1;
	}
	snprintf(export_name, exportlen, "%.*s", (int)(q - p - 1), p + 1);
	snprintf(sock, socklen, "%s", q + 8);
	return 0;
}

/*
 * The real path of `path` (into out) when it lies in one of NC_VOLUME_PATHS.
 * A path that does not exist yet is checked as given (stat then fails).
 */
static bool
path_allowed(const char *path, char *out, size_t len)
{
	char real[PATH_MAX], **dirs = NULL;
	size_t n = nc_node.cfg ? kr_config_list(nc_node.cfg, "NC_VOLUME_PATHS", &dirs) : 0;
	bool ok = false;

	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	for (size_t i = 0; i < n && !ok; i++) {
		size_t l = strlen(dirs[i]);

		while (l > 1 && dirs[i][l - 1] == '/')
			l--;
		ok = strncmp(real, dirs[i], l) == 0 && (real[l] == '/' || l == 1);
	}
	kr_config_list_free(dirs, n);
	if (!ok || strlen(real) >= len) {
		kr_error("InvalidParameterValue", "remoteDev %s is not in NC_VOLUME_PATHS", path);
		return false;
	}
	snprintf(out, len, "%s", real);
	return true;
}

int
nc_volume_source(const char *remote, struct nc_disk_spec *d, char *sock, size_t socklen,
    char *export_name, size_t exportlen, const char **attachment)
{
	char aoe[NC_PATH_MAX];
	struct stat st;

	if (!remote || !*remote || !nc_safe_text(remote, NC_PATH_MAX)) {
		kr_error("InvalidParameterValue", "remoteDev missing or malformed");
		return -1;
	}
	memset(d, 0, sizeof(*d));
	d->format = "raw";
	if (strncmp(remote, "nbd+unix://", 11) == 0) {
		if (parse_nbd(remote, sock, socklen, export_name, exportlen) < 0)
			return -1;
		d->src = NC_SRC_NBD;
		d->path = sock;
		d->export_name = *export_name ? export_name : NULL;
		*attachment = "nbd";
		return 0;
	}
	if (strncmp(remote, "aoe:", 4) == 0) {
		char ifname[16];
		unsigned shelf, slot;

		if (nc_aoe_parse(remote, ifname, sizeof(ifname), &shelf, &slot) < 0 ||
		    nc_path(aoe, sizeof(aoe), "/dev/etherd/e%u.%u", shelf, slot) < 0)
			return -1;
		remote = aoe;
	}
	if (remote[0] != '/' || strstr(remote, "/../")) {
		kr_error("InvalidParameterValue", "remoteDev %s is not an absolute path", remote);
		return -1;
	}
	/* /dev/etherd/eS.L is made from the AoE address: no caller-given path */
	if (remote == aoe)
		snprintf(sock, socklen, "%s", aoe);
	else if (!path_allowed(remote, sock, socklen))
		return -1;
	remote = sock;
	if (stat(remote, &st) < 0) {
		if (strncmp(remote, "/dev/etherd/", 12) == 0)
			kr_error("Unsupported", "%s: no kernel AoE on this node and no NBD export given",
			    remote);
		else
			kr_error_errno("InvalidParameterValue", "remoteDev %s", remote);
		return -1;
	}
	d->path = sock;
	if (S_ISBLK(st.st_mode)) {
		d->src = NC_SRC_BLOCK;
		*attachment = "phy";
	} else if (S_ISREG(st.st_mode)) {
		d->src = NC_SRC_FILE;
		*attachment = "file";
	} else {
		kr_error("InvalidParameterValue", "remoteDev %s is neither a block device nor a file",
		    remote);
		return -1;
	}
	return 0;
}
